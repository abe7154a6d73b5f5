"""Training data: the repo's JSONL concerns, a council's CSV export, officers' corrections.

Every source becomes an `Example` with the five GUIDE fields. Labels outside the GUIDE's
sets are dropped with a warning count rather than silently learned.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

DOMAINS = ["safe", "effective", "caring", "responsive", "well-led"]
TOPICS = ["medication", "falls", "pressure_care", "infection_control", "nutrition_hydration", "staffing",
          "training_competence", "dignity_respect", "care_planning_records", "mca_dols", "premises_equipment",
          "leadership_governance", "complaints_communication", "health_access", "end_of_life",
          "financial_viability", "activities_wellbeing"]
SAFEGUARDING = ["physical", "sexual", "psychological", "financial", "neglect", "discriminatory", "organisational",
                "domestic", "modern_slavery", "self_neglect"]
URGENCY = ["none", "low", "medium", "high", "immediate"]
LABEL_SETS = {"domains": DOMAINS, "topics": TOPICS, "safeguarding": SAFEGUARDING}

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / "training_data"


class DataError(ValueError):
    pass


@dataclass
class Example:
    id: str
    text: str
    subject: str | None = None
    sender: str | None = None
    source: str = "email"
    providers: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    safeguarding: list[str] = field(default_factory=list)
    urgency: str = "none"
    origin: str = ""  # file or table it came from

    def labels(self) -> dict:
        return {"providers": self.providers, "domains": self.domains, "topics": self.topics,
                "safeguarding": self.safeguarding, "urgency": self.urgency}


def _clean_labels(gold: dict, dropped: Counter) -> dict:
    out = {}
    for fld, allowed in LABEL_SETS.items():
        vals = gold.get(fld) or []
        if isinstance(vals, str):
            vals = [v for v in re.split(r"[|;,]", vals)]
        keep = []
        for v in vals:
            v = v.strip().lower().replace(" ", "_") if fld != "domains" else v.strip().lower().replace("_", "-")
            if v == "well_led":
                v = "well-led"
            if not v:
                continue
            if v in allowed:
                if v not in keep:
                    keep.append(v)
            else:
                dropped[f"{fld}:{v}"] += 1
        out[fld] = keep
    urg = (gold.get("urgency") or "").strip().lower()
    if urg not in URGENCY:
        raise DataError(f"urgency '{urg}' is not one of {', '.join(URGENCY)}")
    out["urgency"] = urg
    provs = gold.get("providers") or []
    if isinstance(provs, str):
        provs = [p.strip() for p in re.split(r"[|;,]", provs) if p.strip()]
    out["providers"] = list(provs)
    if urg == "none":  # GUIDE: a non-concern has every list empty
        out.update(providers=[], domains=[], topics=[], safeguarding=[])
    return out


def load_jsonl(path: Path, dropped: Counter | None = None) -> list[Example]:
    dropped = dropped if dropped is not None else Counter()
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{n}: not JSON ({err.msg})") from None
            if "gold" not in d or "text" not in d:
                raise DataError(f"{path}:{n}: needs 'text' and 'gold'")
            try:
                labels = _clean_labels(d["gold"], dropped)
            except DataError as err:
                raise DataError(f"{path}:{n}: {err}") from None
            out.append(Example(id=str(d.get("id", f"{path.stem}:{n}")), text=d["text"], subject=d.get("subject"),
                               sender=d.get("sender"), source=d.get("source", "email"), origin=path.name, **labels))
    return out


# Council intelligence-log exports name their columns differently; the first match wins.
CSV_COLUMNS = {
    "id": ["id", "reference", "ref", "log id", "intelligence id", "record id"],
    "text": ["text", "description", "details", "summary", "concern", "intelligence", "narrative", "notes"],
    "subject": ["subject", "title", "headline"],
    "sender": ["sender", "source name", "reported by", "from"],
    "providers": ["providers", "location id", "location ids", "cqc location id", "location"],
    "domains": ["domains", "key questions", "cqc domains", "domain"],
    "topics": ["topics", "themes", "theme", "category", "categories"],
    "safeguarding": ["safeguarding", "safeguarding category", "abuse type", "abuse types"],
    "urgency": ["urgency", "priority", "rag", "risk level"],
}
# Common priority vocabularies mapped onto the GUIDE's five levels.
URGENCY_ALIASES = {"red": "high", "amber": "medium", "green": "low", "critical": "immediate", "urgent": "immediate",
                   "p1": "immediate", "p2": "high", "p3": "medium", "p4": "low", "n/a": "none", "na": "none",
                   "not a concern": "none", "info": "low", "information": "low"}


def load_council_csv(path: Path, dropped: Counter | None = None) -> list[Example]:
    """A council's intelligence log exported as CSV (see training_data/README.md for the columns)."""
    dropped = dropped if dropped is not None else Counter()
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise DataError(f"{path}: empty CSV")
        cols = {c.strip().lower(): c for c in reader.fieldnames}
        found = {}
        for key, names in CSV_COLUMNS.items():
            for name in names:
                if name in cols:
                    found[key] = cols[name]
                    break
        for need in ("text", "urgency"):
            if need not in found:
                raise DataError(f"{path}: no '{need}' column (accepted names: {', '.join(CSV_COLUMNS[need])})")
        out = []
        for n, row in enumerate(reader, 2):
            text = (row.get(found["text"]) or "").strip()
            if not text:
                continue
            urg = (row.get(found["urgency"]) or "").strip().lower()
            urg = URGENCY_ALIASES.get(urg, urg)
            gold = {k: row.get(found[k]) or "" for k in ("providers", "domains", "topics", "safeguarding") if k in found}
            gold["urgency"] = urg
            try:
                labels = _clean_labels(gold, dropped)
            except DataError as err:
                raise DataError(f"{path}:{n}: {err}") from None
            out.append(Example(id=str(row.get(found.get("id", ""), "") or f"{path.stem}:{n}"), text=text,
                               subject=row.get(found["subject"]) if "subject" in found else None,
                               sender=row.get(found["sender"]) if "sender" in found else None,
                               source="import", origin=path.name, **labels))
    return out


def load_labelled_examples(*, session) -> list[Example]:
    """Officers' corrections (table labelled_example): the newest correction per concern wins."""
    from sqlmodel import select

    from models import LabelledExample

    rows = session.exec(select(LabelledExample).order_by(LabelledExample.created_at)).all()
    latest: dict = {}
    for r in rows:
        latest[r.concern_id if r.concern_id is not None else f"row{r.id}"] = r
    out = []
    dropped: Counter = Counter()
    for key, r in latest.items():
        try:
            labels = _clean_labels(r.labels or {}, dropped)
        except DataError:
            continue
        out.append(Example(id=f"officer:{key}", text=r.text, subject=r.subject, source=r.source,
                           origin="labelled_example", **labels))
    return out


def load_directory(data_dir: Path, dropped: Counter | None = None) -> list[Example]:
    """concerns/*.jsonl plus council/*.csv under a training-data directory."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"no training data directory at {data_dir}")
    out: list[Example] = []
    for path in sorted((data_dir / "concerns").glob("*.jsonl")) if (data_dir / "concerns").is_dir() else []:
        out.extend(load_jsonl(path, dropped))
    for path in sorted(data_dir.glob("*.jsonl")):
        out.extend(load_jsonl(path, dropped))
    for path in sorted((data_dir / "council").glob("*.csv")) if (data_dir / "council").is_dir() else []:
        out.extend(load_council_csv(path, dropped))
    if not out:
        raise DataError(f"no labelled concerns under {data_dir} (expected concerns/*.jsonl or council/*.csv)")
    return out


def dedupe(examples: Iterable[Example]) -> list[Example]:
    """Same text twice: the later one wins (a correction overrides the original label)."""
    by_text: dict[str, Example] = {}
    for ex in examples:
        by_text[re.sub(r"\s+", " ", ex.text.strip().lower())] = ex
    return list(by_text.values())


def data_hash(examples: Iterable[Example]) -> str:
    h = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: (e.id, e.text)):
        h.update(json.dumps([ex.id, ex.subject, ex.text, ex.labels()], sort_keys=True).encode())
    return h.hexdigest()[:16]


def label_distribution(examples: list[Example]) -> dict:
    dist: dict = {"total": len(examples), "urgency": Counter(e.urgency for e in examples)}
    for fld in LABEL_SETS:
        dist[fld] = Counter(v for e in examples for v in getattr(e, fld))
    dist["source"] = Counter(e.source for e in examples)
    dist["providers_per_item"] = Counter(min(len(e.providers), 3) for e in examples)
    return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in dist.items()}
