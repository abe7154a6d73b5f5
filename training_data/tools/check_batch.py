#!/usr/bin/env python3
"""Validate labelled concern files (JSONL) against the label contract in shared/labels/GUIDE.md.

Usage:
    python training_data/tools/check_batch.py [FILE.jsonl ...] [--register PATH]

With no files, every *.jsonl under training_data/concerns/ is checked. Ids must be unique
across all files checked together. Exits 1 if any error is found, and prints the label
distribution either way.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

DOMAINS = {"safe", "effective", "caring", "responsive", "well-led"}
TOPICS = {
    "medication", "falls", "pressure_care", "infection_control", "nutrition_hydration",
    "staffing", "training_competence", "dignity_respect", "care_planning_records", "mca_dols",
    "premises_equipment", "leadership_governance", "complaints_communication", "health_access",
    "end_of_life", "financial_viability", "activities_wellbeing",
}
SAFEGUARDING = {
    "physical", "sexual", "psychological", "financial", "neglect", "discriminatory",
    "organisational", "domestic", "modern_slavery", "self_neglect",
}
URGENCIES = ("immediate", "high", "medium", "low", "none")
SOURCES = {"email", "slack"}
LOCATION_COL = "CQC Location (for office use only)"

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_REGISTER = REPO.parent / "shared" / "register" / "cqc_directory.csv"
DEFAULT_DIR = HERE.parent / "concerns"


def load_register(path: Path) -> set[str]:
    """Location IDs from the CQC directory layout (preamble lines, then a header row)."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    for i, row in enumerate(rows):
        if LOCATION_COL in row:
            col = row.index(LOCATION_COL)
            return {r[col].strip() for r in rows[i + 1:] if len(r) > col and r[col].strip()}
    raise SystemExit(f"{path}: no header row with column {LOCATION_COL!r}")


def check_item(obj: object, where: str, locations: set[str]) -> list[str]:
    errs: list[str] = []
    if not isinstance(obj, dict):
        return [f"{where}: not a JSON object"]
    for key in ("id", "source", "text", "gold"):
        if key not in obj:
            errs.append(f"{where}: missing {key!r}")
    if errs:
        return errs
    if not isinstance(obj["id"], str) or not obj["id"]:
        errs.append(f"{where}: id must be a non-empty string")
    if obj["source"] not in SOURCES:
        errs.append(f"{where}: source {obj['source']!r} not in {sorted(SOURCES)}")
    elif obj["source"] == "slack" and not str(obj.get("channel", "")).startswith("#"):
        errs.append(f"{where}: slack item needs a channel starting with '#'")
    elif obj["source"] == "email" and "subject" not in obj:
        errs.append(f"{where}: email item needs a subject")
    if not isinstance(obj["text"], str) or not obj["text"].strip():
        errs.append(f"{where}: empty text")
    gold = obj["gold"]
    if not isinstance(gold, dict):
        return errs + [f"{where}: gold must be an object"]
    allowed = {"providers": None, "domains": DOMAINS, "topics": TOPICS, "safeguarding": SAFEGUARDING}
    for key, vocab in allowed.items():
        val = gold.get(key)
        if not isinstance(val, list):
            errs.append(f"{where}: gold.{key} must be a list")
            continue
        if len(set(val)) != len(val):
            errs.append(f"{where}: gold.{key} has duplicates")
        for v in val:
            if vocab is None:
                if v not in locations:
                    errs.append(f"{where}: provider {v!r} not in register")
            elif v not in vocab:
                errs.append(f"{where}: gold.{key} value {v!r} not allowed")
    urgency = gold.get("urgency")
    if urgency not in URGENCIES:
        errs.append(f"{where}: urgency {urgency!r} not in {URGENCIES}")
    elif urgency == "none":
        for key in allowed:
            if gold.get(key):
                errs.append(f"{where}: urgency none but gold.{key} is not empty")
    else:
        # GUIDE: every concern has a domain; a concern is also always about something (a topic),
        # an abuse allegation included: the care failing it describes.
        for key in ("domains", "topics"):
            if not gold.get(key):
                errs.append(f"{where}: urgency {urgency} needs at least one {key[:-1]}")
    extra = set(gold) - set(allowed) - {"urgency"}
    if extra:
        errs.append(f"{where}: unknown gold keys {sorted(extra)}")
    return errs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--register", type=Path, default=DEFAULT_REGISTER)
    args = ap.parse_args(argv)
    files = args.files or sorted(DEFAULT_DIR.glob("*.jsonl"))
    if not files:
        print("no files to check")
        return 1
    locations = load_register(args.register)
    errors: list[str] = []
    seen_ids: dict[str, str] = {}
    seen_text: dict[str, str] = {}
    items: list[dict] = []
    for path in files:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                where = f"{path.name}:{n}"
                if not line.strip():
                    errors.append(f"{where}: blank line")
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    errors.append(f"{where}: invalid JSON ({exc})")
                    continue
                errs = check_item(obj, where, locations)
                errors.extend(errs)
                if not isinstance(obj, dict):
                    continue
                oid = obj.get("id")
                if isinstance(oid, str):
                    if oid in seen_ids:
                        errors.append(f"{where}: duplicate id {oid} (first at {seen_ids[oid]})")
                    seen_ids.setdefault(oid, where)
                text = obj.get("text")
                if isinstance(text, str):
                    if text in seen_text:
                        errors.append(f"{where}: duplicate text (first at {seen_text[text]})")
                    seen_text.setdefault(text, where)
                if not errs:
                    items.append(obj)

    print(f"checked {len(files)} file(s): {len(items)} valid item(s), {len(errors)} error(s)")
    for e in errors[:200]:
        print("  ERROR", e)
    if len(errors) > 200:
        print(f"  ... {len(errors) - 200} more")

    def show(title: str, counter: Counter, order=None) -> None:
        keys = order or [k for k, _ in counter.most_common()]
        print(f"\n{title}:")
        for k in keys:
            print(f"  {str(k):26s} {counter.get(k, 0)}")

    show("source", Counter(i["source"] for i in items))
    show("urgency", Counter(i["gold"]["urgency"] for i in items), list(URGENCIES))
    for key, vocab in (("domains", DOMAINS), ("topics", TOPICS), ("safeguarding", SAFEGUARDING)):
        c = Counter(v for i in items for v in i["gold"][key])
        show(key, c, sorted(vocab, key=lambda k: -c.get(k, 0)))
    prov = Counter(len(i["gold"]["providers"]) for i in items if i["gold"]["urgency"] != "none")
    show("providers per non-none item", prov, sorted(prov))
    print(f"\ndistinct locations used: {len({p for i in items for p in i['gold']['providers']})} of {len(locations)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
