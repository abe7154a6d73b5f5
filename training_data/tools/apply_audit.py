#!/usr/bin/env python3
"""Apply a second annotator's label changes (training_data/audit/*.changes.jsonl) to the concern files.

Each change line is `{"id", "topics", "domains", "why"}` with the full new lists; only topics and
domains are changed, and only on items whose urgency is not `none`. Re-running is harmless: an item
already carrying the new lists is left as it is. Prints what was added and removed per label.

Usage: python training_data/tools/apply_audit.py [--audit DIR] [--data DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

# The GUIDE's label lists, in its order: lists are written back in that order so the files diff cleanly.
from classifiers.data import DOMAINS, TOPICS  # noqa: E402


def load_changes(audit_dir: Path) -> dict[str, dict]:
    changes: dict[str, dict] = {}
    for path in sorted(audit_dir.glob("*.changes.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            c = json.loads(line)
            bad = (set(c["topics"]) - set(TOPICS)) | (set(c["domains"]) - set(DOMAINS))
            if bad:
                raise SystemExit(f"{path.name}:{n}: unknown labels {sorted(bad)}")
            if c["id"] in changes:
                raise SystemExit(f"{path.name}:{n}: {c['id']} changed twice")
            changes[c["id"]] = c
    return changes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audit", type=Path, default=HERE.parent / "audit")
    ap.add_argument("--data", type=Path, default=HERE.parent / "concerns")
    args = ap.parse_args()
    changes = load_changes(args.audit)
    added, removed, applied = Counter(), Counter(), 0
    for path in sorted(args.data.glob("*.jsonl")):
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            gold, c = item["gold"], changes.pop(item["id"], None)
            if c and gold["urgency"] != "none":
                applied += set(c["topics"]) != set(gold["topics"]) or set(c["domains"]) != set(gold["domains"])
                for fld, order in (("topics", TOPICS), ("domains", DOMAINS)):
                    added.update(f"{fld}:{x}" for x in set(c[fld]) - set(gold[fld]))
                    removed.update(f"{fld}:{x}" for x in set(gold[fld]) - set(c[fld]))
                    gold[fld] = [x for x in order if x in c[fld]]
            out.append(json.dumps(item, ensure_ascii=False))
        path.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"{applied} item(s) relabelled (the rest already carry their audited labels); "
          f"{len(changes)} change(s) matched no item")
    print("added:  ", ", ".join(f"{k} {v}" for k, v in added.most_common()) or "nothing")
    print("removed:", ", ".join(f"{k} {v}" for k, v in removed.most_common()) or "nothing")


if __name__ == "__main__":
    main()
