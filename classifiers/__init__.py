"""Concern classifier: providers, CQC domains, topics, safeguarding categories and urgency.

`load_classifier(model_dir)` loads the artefact named by `<model_dir>/current` (written by
`triage train`); `Classifier.classify(...)` returns a `Classification` whose `to_dict()` is
the contract the pipeline, Slack bot and CLI rely on.
"""

from __future__ import annotations

from pathlib import Path

from .model import Classification, Classifier
from .register_index import RegisterIndex, index_from_session

__all__ = ["Classification", "Classifier", "RegisterIndex", "index_from_session", "load_classifier",
           "current_version"]


def current_version(model_dir: Path) -> str | None:
    cur = Path(model_dir) / "current"
    if not cur.is_file():
        return None
    version = cur.read_text(encoding="utf-8").strip()
    return version if (Path(model_dir) / version / "model.joblib").is_file() else None


def load_classifier(model_dir: Path) -> Classifier:
    """The trained classifier in force under model_dir; ModelMissingError says what to run if none."""
    import joblib

    from triage.services import ModelMissingError

    model_dir = Path(model_dir)
    version = current_version(model_dir)
    if version is None:
        raise ModelMissingError(
            f"no trained classifier under {model_dir}: run `triage train` first "
            "(it trains on training_data/ and writes the model there)")
    slim = model_dir / version / "slim.pkl"
    if slim.is_file():
        import pickle

        with open(slim, "rb") as fh:
            artefact = pickle.load(fh)
    else:
        artefact = joblib.load(model_dir / version / "model.joblib")
    return Classifier(artefact=artefact, config=artefact["config"])
