"""The risk matrix: every monitored home (and any other with live concerns), scored now."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, func, select

from models import Concern, ConcernLocation, CqcRating, Location, Officer, Organisation, PortfolioAssignment
from triage import clock
from triage.config import Settings

from .scoring import INACTIVE_STATUSES, Score, rating_rank, score_location

OPEN_STATUSES = ("open", "acknowledged")


def open_concern_counts(*, session: Session) -> dict[str, int]:
    rows = session.exec(
        select(ConcernLocation.location_id, func.count(ConcernLocation.concern_id))
        .join(Concern, Concern.id == ConcernLocation.concern_id)
        .where(Concern.status.in_(OPEN_STATUSES), Concern.urgency != "none")
        .group_by(ConcernLocation.location_id)
    ).all()
    return {lid: n for lid, n in rows}


def location_officers(*, session: Session) -> dict[str, list[Officer]]:
    out: dict[str, list[Officer]] = {}
    for pa, o in session.exec(select(PortfolioAssignment, Officer)
                              .join(Officer, Officer.officer_id == PortfolioAssignment.officer_id)
                              .where(PortfolioAssignment.ended_at == None)).all():  # noqa: E711
        out.setdefault(pa.location_id, []).append(o)
    return out


def cqc_overall(*, session: Session, location_id: str) -> str | None:
    r = session.exec(select(CqcRating).where(CqcRating.location_id == location_id, CqcRating.current == True,  # noqa: E712
                                             CqcRating.key_question.in_(("overall", "Overall")))
                     .order_by(CqcRating.published_on.desc())).first()
    return r.rating if r else None


def _with_live_concerns(session: Session) -> set[str]:
    return set(session.exec(
        select(ConcernLocation.location_id).join(Concern, Concern.id == ConcernLocation.concern_id)
        .where(Concern.status.not_in(INACTIVE_STATUSES))
    ).all())


def matrix_rows(*, session: Session, settings: Settings, officer_id: str | None = None,
                now: datetime | None = None) -> list[dict]:
    now = now or clock.now()
    officers = location_officers(session=session)
    counts = open_concern_counts(session=session)
    live = _with_live_concerns(session)
    orgs = {o.provider_id: o.name for o in session.exec(select(Organisation)).all()}
    rows = []
    for loc in session.exec(select(Location).order_by(Location.name)).all():
        if not (loc.monitored or loc.location_id in live):
            continue
        held = officers.get(loc.location_id, [])
        if officer_id and officer_id not in {o.officer_id for o in held}:
            continue
        s: Score = score_location(session=session, location=loc, settings=settings, now=now)
        rows.append({
            "location_id": loc.location_id, "name": loc.name, "provider_id": loc.provider_id,
            "provider": orgs.get(loc.provider_id, loc.provider_id), "monitored": loc.monitored,
            "officer_id": ", ".join(o.officer_id for o in held) or ("DUTY" if not loc.monitored else ""),
            "officer": ", ".join(o.name for o in held),
            "rating": s.rating, "score": s.score, "cqc_overall": cqc_overall(session=session, location_id=loc.location_id),
            "open_concerns": counts.get(loc.location_id, 0),
            "top_factors": [f.to_dict() for f in s.top_factors(3)],
            "factors": [f.to_dict() for f in sorted(s.factors, key=lambda f: -f.points)],
            "flags": s.flags,
        })
    rows.sort(key=lambda r: (-rating_rank(r["rating"]), -r["score"], r["name"]))
    return rows
