"""Cross-writer evaluation: train on every training file but one, classify the held-out file.

Each file under training_data/concerns/ was written by a different hand, so this estimates how the
whole classifier (linker, rules, models and decisions) does on text by a writer it never saw,
which is what the hidden evaluation set is, without touching ../shared/eval/. Use it to choose
hyperparameters: `--set multilabel.C=1.0` overrides classifiers/config.toml for one run.

Usage: python bench/cross_writer.py [--data DIR] [--set SECTION.KEY=VALUE ...] [--register CSV]
                                   [--test-writers i_,j_,...]
With --test-writers the files whose names start so are held out together and the model is trained
once on the rest (quicker: one training instead of one per writer). Prints micro-F1 per field and urgency figures per held-out writer and pooled; writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _override(config: dict, assignments: list[str]) -> dict:
    config = copy.deepcopy(config)
    for a in assignments:
        key, _, raw = a.partition("=")
        section, _, name = key.partition(".")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        config.setdefault(section, {})[name] = value
    return config


def main() -> None:
    from rich.console import Console
    from rich.progress import track
    from rich.table import Table

    from classifiers import load_classifier
    from classifiers.data import load_jsonl
    from classifiers.evaluate import evaluate
    from classifiers.model import load_config
    from classifiers.register_index import RegisterIndex
    from classifiers.train import train

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=REPO / "training_data" / "concerns")
    ap.add_argument("--register", type=Path, default=REPO.parent / "shared" / "register" / "cqc_directory.csv")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--min-size", type=int, default=100, help="files smaller than this are never held out")
    ap.add_argument("--test-writers", default="", metavar="PREFIXES",
                    help="comma-separated file-name prefixes held out together; train once on the other files")
    args = ap.parse_args()

    config = _override(load_config(), args.sets)
    index = RegisterIndex.from_cqc_directory(args.register)
    files = sorted(args.data.glob("*.jsonl"))
    by_file = {f.name: load_jsonl(f) for f in files}  # each Example's origin is its file: one writer
    prefixes = tuple(p.strip() for p in args.test_writers.split(",") if p.strip())
    if prefixes:
        held = [n for n in by_file if n.startswith(prefixes)]
        if not held or len(held) == len(by_file):
            sys.exit(f"--test-writers {args.test_writers!r} must hold out some files but not all of {sorted(by_file)}")
        rounds = [held]
    else:
        rounds = [[n] for n, exs in by_file.items() if len(exs) >= args.min_size]
    gold_all, pred_all, rows = [], [], []
    started = time.perf_counter()
    for names in track(rounds, description="training without the held-out writers"):
        train_ex = [e for n, exs in by_file.items() if n not in names for e in exs]
        with tempfile.TemporaryDirectory() as tmp:
            train(train_ex, model_dir=Path(tmp), index=index, config=config)
            clf = load_classifier(Path(tmp))
            for name in names:
                test_ex = by_file[name]
                preds = clf.classify_batch([{"text": e.text, "subject": e.subject, "sender": e.sender}
                                            for e in test_ex], register=index)
                gold = [e.labels() for e in test_ex]
                pred = [p.to_dict() for p in preds]
                rows.append((name, len(test_ex), evaluate(gold, pred)))
                gold_all += gold
                pred_all += pred
    pooled = evaluate(gold_all, pred_all)

    def figures(rep: dict) -> list[str]:
        u = rep["urgency"]
        return [f"{rep['fields'][f]['micro']['f1']:.3f}" for f in ("domains", "topics", "safeguarding")] + \
               [f"{rep['providers']['f1']:.3f}", f"{u['accuracy']:.3f}",
                f"{u['immediate_recall']:.3f} / {u['immediate_precision']:.3f}"]

    table = Table("held-out writer", "n", "domains", "topics", "safeguarding", "providers", "urgency acc",
                  "immediate R / P", title=f"Cross-writer evaluation {' '.join(args.sets) or '(config.toml)'}")
    for name, n, rep in rows:
        table.add_row(name, str(n), *figures(rep))
    table.add_row("pooled", str(len(gold_all)), *figures(pooled), style="bold")
    Console().print(table)
    out = REPO / "bench" / "results" / f"cross-writer-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"sets": args.sets, "test_writers": list(prefixes), "seconds": round(time.perf_counter() - started, 1),
                               "pooled": {k: pooled[k] for k in ("fields", "providers", "urgency")},
                               "per_writer": {n: {"n": k, "fields": {f: r["fields"][f]["micro"] for f in r["fields"]},
                                                  "urgency": {x: r["urgency"][x] for x in ("accuracy", "immediate_recall",
                                                                                           "immediate_precision")}}
                                              for n, k, r in rows}}, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
