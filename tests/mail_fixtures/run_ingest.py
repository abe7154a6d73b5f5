"""Run the `triage` CLI as its own process for the mail tests (so it can be SIGKILLed mid-run).

Uses the trained classifier in TRIAGE_MODEL_DIR when there is one; otherwise the tests'
stand-in classifier (the crash and quarantine tests are about mail handling, not labels).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _classifier_available() -> bool:
    try:
        from classifiers import load_classifier
        from triage.config import get_settings

        load_classifier(get_settings().model_dir)
        return True
    except Exception:
        return False


if __name__ == "__main__":
    if not _classifier_available():
        from support import StandInClassifier

        from triage.services import Services

        Services.classifier = property(lambda self: self._classifier or StandInClassifier())
    from triage.cli import main

    sys.exit(main(sys.argv[1:], prog_name="triage"))
