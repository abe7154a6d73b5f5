"""One home's risk at a glance, for Slack's /risk command. References and labels, never text."""

from __future__ import annotations

from sqlmodel import Session, select

from models import Concern, ConcernLocation, CqcRating, Location, Organisation
from triage import clock
from triage.config import Settings, get_settings

from .matrix import location_officers
from .rollup import organisation_view
from .scoring import INACTIVE_STATUSES, score_location


def risk_card(*, session: Session, location_id: str, settings: Settings | None = None, recent: int = 5) -> dict:
    settings = settings or get_settings()
    loc = session.get(Location, location_id)
    if loc is None:
        raise LookupError(f"no location {location_id}")
    s = score_location(session=session, location=loc, settings=settings, now=clock.now())
    ratings = {}
    for r in session.exec(select(CqcRating).where(CqcRating.location_id == location_id,
                                                  CqcRating.current == True)).all():  # noqa: E712
        ratings[r.key_question.lower()] = {"rating": r.rating,
                                           "published_on": r.published_on.isoformat() if r.published_on else None}
    concerns = session.exec(
        select(Concern).join(ConcernLocation, ConcernLocation.concern_id == Concern.id)
        .where(ConcernLocation.location_id == location_id, Concern.status.not_in(INACTIVE_STATUSES))
        .order_by(Concern.received_at.desc()).limit(recent)
    ).all()
    held = location_officers(session=session).get(location_id, [])
    org = session.get(Organisation, loc.provider_id)
    view = organisation_view(session=session, settings=settings, provider_id=loc.provider_id) \
        if org is not None else None
    return {
        "location_id": loc.location_id, "name": loc.name, "provider": org.name if org else loc.provider_id,
        "monitored": loc.monitored, "rating": s.rating, "score": s.score,
        "thresholds": {"amber": settings.risk_amber_threshold, "red": settings.risk_red_threshold},
        "top_factors": [f.to_dict() for f in s.top_factors(3)],
        "factors": [f.to_dict() for f in sorted(s.factors, key=lambda f: -f.points)],
        "flags": s.flags,
        "recent_concerns": [{"reference": c.reference, "received_at": c.received_at.isoformat(),
                             "urgency": c.urgency, "status": c.status, "tags": list(c.topics or []),
                             "safeguarding": list(c.safeguarding or [])} for c in concerns],
        "cqc": ratings,
        "officer": ({"officer_id": held[0].officer_id, "name": held[0].name, "slack_user_id": held[0].slack_user_id}
                    if held else None),
        "organisation": ({k: view[k] for k in ("provider_id", "name", "locations", "worst_rating", "red", "amber")}
                         if view else None),
    }
