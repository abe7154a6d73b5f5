"""Training: features, models, thresholds tuned by cross-validation on the training data only.

The artefact is written to <model_dir>/<version>/ (model.joblib + meta.json) and the
`current` file in model_dir names the version in force, so a retrain never breaks a
running service halfway through a write.
"""

from __future__ import annotations

import json
import pickle
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import joblib
import numpy as np
import sklearn
import spacy
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC
from joblib import Parallel, delayed

from triage import clock

from .data import URGENCY, Example, data_hash, label_distribution
from .lexicon import Lexicon
from .model import FIELDS, Classifier, LabelModel, UrgencyModel, load_config, negation_marked
from .register_index import RegisterIndex
from .urgency_rules import RANK

ARTEFACT_FORMAT = 1
Progress = Callable[[str, int], None]  # (step description, steps done so far)


@dataclass
class TrainResult:
    version: str
    path: Path
    metrics: dict
    n_examples: int


def _vectorisers(cfg: dict):
    f = cfg["features"]
    word = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", ngram_range=(1, int(f["word_ngram_max"])),
                           min_df=int(f["word_min_df"]), max_features=int(f["word_max_features"]),
                           sublinear_tf=True, dtype=np.float32)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(int(f["char_ngram_min"]), int(f["char_ngram_max"])),
                           min_df=int(f["char_min_df"]), max_features=int(f["char_max_features"]),
                           sublinear_tf=True, dtype=np.float32)
    return word, char


def _svm(C: float, class_weight) -> LinearSVC:
    return LinearSVC(C=C, class_weight=class_weight, max_iter=5000)


def _platt(d: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    lr = LogisticRegression(C=100.0).fit(d.reshape(-1, 1), y)
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def _fit_label(X, y, splits, C, class_weight):
    """Cross-validated scores for threshold tuning, then the final model on all the data.

    `splits` may be a list of fold sets (e.g. stratified and leave-one-writer-out): Platt scaling
    is fitted on all their out-of-fold scores together and the returned probability per item is
    the mean over the fold sets."""
    sets = splits if splits and isinstance(splits[0], list) else [splits]
    d_sets = []
    for folds in sets:
        d_oof = np.zeros(len(y))
        for tr, te in folds:
            if y[tr].sum() == 0 or y[tr].sum() == len(tr):
                continue
            d_oof[te] = _svm(C, class_weight).fit(X[tr], y[tr]).decision_function(X[te])
        d_sets.append(d_oof)
    a, b = _platt(np.concatenate(d_sets), np.concatenate([y] * len(d_sets)))
    p_oof = np.mean([1.0 / (1.0 + np.exp(-(a * d + b))) for d in d_sets], axis=0)
    return LabelModel(_svm(C, class_weight).fit(X, y), a, b), p_oof


def _best_threshold(y: np.ndarray, p: np.ndarray, lo: float, hi: float) -> float:
    best_t, best_f = 0.5, -1.0
    for t in np.arange(lo, hi + 1e-9, 0.025):
        pred = p >= t
        tp = float(np.sum(pred & (y == 1)))
        fp = float(np.sum(pred & (y == 0)))
        fn = float(np.sum(~pred & (y == 1)))
        f = 2 * tp / max(1.0, 2 * tp + fp + fn)
        if f > best_f + 1e-9:
            best_f, best_t = f, float(t)
    return round(best_t, 3)


def prepare_texts(examples: list[Example], config: dict, index: RegisterIndex | None,
                  progress: Callable[[int], None] | None = None) -> tuple[list, list, list]:
    """Model texts (linked names masked), rule hits and safeguarding cues, exactly as classification
    prepares them."""
    shell = Classifier.__new__(Classifier)
    Classifier.__init__(shell, artefact={"version": "training"}, config=config)
    texts, hits, cues = [], [], []
    for n, ex in enumerate(examples):
        p = shell.prepare(ex.text, subject=ex.subject, sender=ex.sender, index=index)
        texts.append(p.model_text)
        hits.append([h.level for h in (p.doc._.urgency_hits or [])])
        cues.append(set(shell.cues.find(p.text)))
        if progress and n % 100 == 99:
            progress(n + 1)
    return texts, hits, cues


def writer_splits(examples: list[Example], min_size: int, fallback: list) -> tuple[list, str]:
    """Leave-one-writer-out folds (one training file = one writer) when there are three or more
    writers of a useful size: thresholds tuned on scores for a writer the model never saw carry
    over better to text written by other hands than thresholds tuned on random folds."""
    origins = np.array([e.origin or "" for e in examples])
    groups = [o for o in sorted(set(origins)) if np.sum(origins == o) >= min_size]
    if len(groups) < 3:
        return fallback, "stratified"
    splits = []
    for o in groups:
        te = np.where(origins == o)[0]
        tr = np.where(origins != o)[0]
        splits.append((tr, te))
    return splits, "leave-one-writer-out"


def train(examples: list[Example], *, model_dir: Path, index: RegisterIndex | None = None,
          config: dict | None = None, progress: Progress | None = None, keep: int = 5) -> TrainResult:
    config = config or load_config()
    progress = progress or (lambda step, n: None)
    labels_all = {fld: [lab for lab in labs if sum(lab in getattr(e, fld) for e in examples) > 0]
                  for fld, labs in FIELDS.items()}
    done = 0

    progress("cleaning, linking and masking", done)
    texts, rule_levels, cue_sets = prepare_texts(examples, config, index)
    done += 1

    progress("fitting features", done)
    word_vec, char_vec = _vectorisers(config)
    scope = int(config["text"]["negation_scope"])
    Xw = word_vec.fit_transform([negation_marked(t, scope) for t in texts])
    Xc = char_vec.fit_transform([t.lower() for t in texts])
    lex_weight = float(config["features"].get("lexicon_weight", 0.0))
    lexicon = Lexicon()
    L = lexicon.counts(texts)
    lex_scale = np.maximum(L.max(axis=0), 1e-6).astype(np.float32)
    X = hstack([Xw, Xc, csr_matrix(L / lex_scale * lex_weight)]).tocsr()
    # Urgency reads the text only: the vocabulary columns are about topics and cost it accuracy
    # on cross-validation; all-zero columns keep one shared feature layout (and weight matrix).
    X_urgency = hstack([Xw, Xc, csr_matrix(L.shape, dtype=np.float32)]).tocsr()
    done += 1

    cv = config["cv"]
    y_urg = np.array([e.urgency for e in examples])
    counts = {c: int(np.sum(y_urg == c)) for c in URGENCY}
    folds = max(2, min(int(cv["folds"]), min(v for v in counts.values() if v > 0)))
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(cv["seed"]))
    splits = list(skf.split(X, y_urg))

    progress("urgency model (cross-validated)", done)
    ucfg = config["urgency"]
    classes = sorted(np.unique(y_urg), key=lambda c: URGENCY.index(c))
    fitted = Parallel(n_jobs=int(cv.get("n_jobs", 1)), prefer="threads")(
        delayed(_fit_label)(X_urgency, (y_urg == c).astype(int), splits, float(ucfg["C"]), ucfg["class_weight"])
        for c in classes)
    urgency_model = UrgencyModel(classes, [m for m, _ in fitted])
    oof = np.column_stack([p for _, p in fitted])
    oof = oof / np.clip(oof.sum(axis=1, keepdims=True), 1e-9, None)
    imm_t, urg_metrics = _tune_immediate(oof, classes, y_urg, rule_levels, ucfg)
    done += 1

    mcfg = config["multilabel"]
    mode = cv.get("threshold_folds", "stratified")
    ml_splits, ml_cv = splits, "stratified"
    if mode in ("writer", "blend"):
        w_splits, ml_cv = writer_splits(examples, int(cv.get("writer_min_size", 100)), splits)
        if ml_cv != "stratified":
            ml_splits = [splits, w_splits] if mode == "blend" else w_splits
            ml_cv = "stratified+leave-one-writer-out" if mode == "blend" else ml_cv
    gate_hi = float(mcfg["safeguarding_cue_free_min"])
    label_models: dict = {}
    thresholds: dict = {}
    field_metrics: dict = {}
    for fld, labs in labels_all.items():
        progress(f"{fld} models (cross-validated thresholds)", done)
        label_models[fld], thresholds[fld] = {}, {}
        tp = fp = fn = 0
        per_label = {}
        not_none = y_urg != "none"
        todo = []
        for lab in FIELDS[fld]:
            y = np.array([1 if lab in getattr(e, fld) else 0 for e in examples])
            pos = int(y.sum())
            if pos == 0:
                label_models[fld][lab] = 0.0  # never seen: a constant probability of zero
                thresholds[fld][lab] = 1.0
            elif pos == len(y):
                label_models[fld][lab] = 1.0
                thresholds[fld][lab] = 0.0
            else:
                todo.append((lab, y, pos))
        fitted = Parallel(n_jobs=int(config["cv"].get("n_jobs", 1)), prefer="threads")(
            delayed(_fit_label)(X, y, ml_splits, float(mcfg["C"]), mcfg["class_weight"]) for _lab, y, _pos in todo)
        for (lab, y, pos), (model, p_oof) in zip(todo, fitted):
            if fld == "safeguarding":
                # Tune on what classification will output: no cue and not very sure -> not given.
                cue = np.array([lab in c for c in cue_sets])
                p_oof = np.where(cue | (p_oof >= gate_hi), p_oof, 0.0)
            if pos >= int(mcfg["min_examples"]):
                t = _best_threshold(y[not_none], p_oof[not_none], float(mcfg["threshold_min"]),
                                    float(mcfg["threshold_max"]))
            else:
                t = float(mcfg["default_threshold"])
            thresholds[fld][lab] = t
            label_models[fld][lab] = model
            pred = (p_oof >= t) & not_none
            ltp, lfp, lfn = int(np.sum(pred & (y == 1))), int(np.sum(pred & (y == 0))), int(np.sum(~pred & (y == 1)))
            tp, fp, fn = tp + ltp, fp + lfp, fn + lfn
            per_label[lab] = {"support": pos, "threshold": t,
                              "f1": round(2 * ltp / max(1, 2 * ltp + lfp + lfn), 3)}
        field_metrics[fld] = {"micro_f1": round(2 * tp / max(1, 2 * tp + fp + fn), 3), "labels": per_label}
        done += 1

    progress("writing the artefact", done)
    dhash = data_hash(examples)
    now = clock.now()
    version = f"{now.strftime('%Y%m%d-%H%M%S')}-{dhash[:8]}"
    metrics = {"cross_validated": True, "folds": folds, "threshold_folds": ml_cv, "urgency": urg_metrics, **field_metrics}
    artefact = {
        "format": ARTEFACT_FORMAT, "version": version, "word_vec": word_vec, "char_vec": char_vec,
        "lexicon_scale": lex_scale, "lexicon_weight": lex_weight,
        "urgency_model": urgency_model, "label_models": label_models, "thresholds": thresholds,
        "immediate_threshold": imm_t, "config": config,
    }
    meta = {
        "version": version, "created_at": now.isoformat(), "data_hash": dhash, "n_examples": len(examples),
        "labels": {"urgency": URGENCY, **{f: list(v) for f, v in FIELDS.items()}},
        "labels_seen": labels_all, "label_distribution": label_distribution(examples),
        "metrics": metrics, "thresholds": thresholds, "immediate_threshold": imm_t, "config": config,
        "register_masking": index is not None,
        "versions": {"python": platform.python_version(), "sklearn": sklearn.__version__, "spacy": spacy.__version__},
    }
    model_dir = Path(model_dir)
    out = model_dir / version
    tmp = model_dir / f".{version}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    joblib.dump(artefact, tmp / "model.joblib")
    # What classification loads: plain arrays, no scikit-learn import (load time).
    slim = Classifier(artefact=artefact, config=config).slim_artefact()
    with open(tmp / "slim.pkl", "wb") as fh:
        pickle.dump(slim, fh, protocol=pickle.HIGHEST_PROTOCOL)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    cur_tmp = model_dir / ".current.tmp"
    cur_tmp.write_text(version + "\n", encoding="utf-8")
    cur_tmp.replace(model_dir / "current")
    _prune(model_dir, keep, version)
    done += 1
    progress("done", done)
    return TrainResult(version=version, path=out, metrics=metrics, n_examples=len(examples))


def _tune_immediate(oof: np.ndarray, classes: list, y: np.ndarray, rule_levels: list, ucfg: dict):
    """The highest immediate threshold whose cross-validated recall (rules included) meets the target."""
    imm = classes.index("immediate") if "immediate" in classes else None
    none_i = classes.index("none") if "none" in classes else None
    target = float(ucfg["immediate_recall_target"])
    floor = float(ucfg["immediate_threshold_floor"])
    guard = float(ucfg["none_guard"])

    def decide(t):
        out = []
        for i in range(len(y)):
            pi = oof[i]
            lvl = classes[int(np.argmax(pi))]
            if imm is not None and pi[imm] >= t:
                lvl = "immediate"
            if not (lvl == "none" and none_i is not None and pi[none_i] >= guard):
                for r in rule_levels[i]:
                    if RANK[r] > RANK[lvl]:
                        lvl = r
            out.append(lvl)
        return np.array(out)

    best_t = floor
    if imm is not None:
        for t in np.arange(0.6, floor - 1e-9, -0.02):
            pred = decide(t)
            pos = y == "immediate"
            rec = float(np.sum((pred == "immediate") & pos)) / max(1, int(pos.sum()))
            if rec >= target:
                best_t = float(t)
                break
    pred = decide(best_t)
    pos = y == "immediate"
    tp = float(np.sum((pred == "immediate") & pos))
    metrics = {
        "accuracy": round(float(np.mean(pred == y)), 3),
        "immediate_recall": round(tp / max(1, int(pos.sum())), 3),
        "immediate_precision": round(tp / max(1, int(np.sum(pred == "immediate"))), 3),
        "immediate_threshold": round(best_t, 3),
    }
    return round(best_t, 3), metrics


def _prune(model_dir: Path, keep: int, current: str) -> None:
    versions = sorted(p for p in model_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                      and (p / "model.joblib").exists())
    for p in versions[:-keep]:
        if p.name != current:
            shutil.rmtree(p, ignore_errors=True)
