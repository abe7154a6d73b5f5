"""A provider organisation's view across its homes: the worst home sets the tone."""

from __future__ import annotations

from sqlmodel import Session

from models import Organisation
from triage.config import Settings

from .matrix import matrix_rows
from .scoring import rating_rank


def organisation_view(*, session: Session, settings: Settings, provider_id: str, rows: list[dict] | None = None) -> dict:
    rows = [r for r in (rows if rows is not None else matrix_rows(session=session, settings=settings))
            if r["provider_id"] == provider_id]
    org = session.get(Organisation, provider_id)
    worst = max((r["rating"] for r in rows), key=rating_rank, default="green")
    return {
        "provider_id": provider_id, "name": org.name if org else provider_id, "locations": len(rows),
        "worst_rating": worst, "red": sum(r["rating"] == "red" for r in rows),
        "amber": sum(r["rating"] == "amber" for r in rows),
        "max_score": max((r["score"] for r in rows), default=0.0),
        "mean_score": round(sum(r["score"] for r in rows) / len(rows), 1) if rows else 0.0,
        "open_concerns": sum(r["open_concerns"] for r in rows),
        "homes": [{"location_id": r["location_id"], "name": r["name"], "rating": r["rating"], "score": r["score"]}
                  for r in rows],
    }


def organisations(*, session: Session, settings: Settings, min_locations: int = 2) -> list[dict]:
    rows = matrix_rows(session=session, settings=settings)
    ids = sorted({r["provider_id"] for r in rows})
    views = [organisation_view(session=session, settings=settings, provider_id=p, rows=rows) for p in ids]
    views = [v for v in views if v["locations"] >= min_locations]
    return sorted(views, key=lambda v: (-rating_rank(v["worst_rating"]), -v["max_score"], v["name"]))
