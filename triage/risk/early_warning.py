"""Early warning: concerns accelerating or a score jumping, flagged before the home turns red."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlmodel import Session, select

from models import Concern, ConcernLocation, ConcernSource, RiskAssessment
from triage.config import Settings

from .scoring import INACTIVE_STATUSES

_EMAIL = re.compile(r"[\w.+'-]+@[\w.-]+")


def source_key(src: ConcernSource) -> str:
    """Who reported it: the sender's address (or name), else the arrival itself."""
    if src.sender:
        m = _EMAIL.search(src.sender)
        return (m.group(0) if m else src.sender).strip().lower()
    return f"{src.source}:{src.external_id}"


def recent_concerns(*, session: Session, location_id: str, since: datetime, now: datetime) -> list[Concern]:
    return list(session.exec(
        select(Concern).join(ConcernLocation, ConcernLocation.concern_id == Concern.id)
        .where(ConcernLocation.location_id == location_id, Concern.received_at >= since, Concern.received_at <= now,
               Concern.status.not_in(INACTIVE_STATUSES), Concern.urgency != "none")
    ).all())


def check(*, session: Session, location_id: str, settings: Settings, score: float, now: datetime,
          new_row_id: int | None = None) -> list[str]:
    """Reasons for an early warning now (empty when none)."""
    since = now - timedelta(days=settings.early_warning_days)
    reasons = []
    concerns = recent_concerns(session=session, location_id=location_id, since=since, now=now)
    if len(concerns) >= settings.early_warning_count:
        srcs = session.exec(select(ConcernSource).where(ConcernSource.concern_id.in_([c.id for c in concerns]))).all()
        keys = {source_key(s) for s in srcs}
        if len(keys) >= settings.early_warning_sources:
            reasons.append(f"{len(concerns)} concerns in {settings.early_warning_days} days from {len(keys)} "
                           f"different sources (threshold {settings.early_warning_count} from "
                           f"{settings.early_warning_sources})")
    base = _lowest_before(session=session, location_id=location_id, since=since, now=now, new_row_id=new_row_id)
    if base is not None and score - base >= settings.early_warning_score_jump:
        reasons.append(f"score rose {score - base:.0f} points in {settings.early_warning_days} days "
                       f"(from {base:.0f} to {score:.0f}; threshold {settings.early_warning_score_jump:g})")
    return reasons


def _lowest_before(*, session: Session, location_id: str, since: datetime, now: datetime,
                   new_row_id: int | None) -> float | None:
    rows = session.exec(select(RiskAssessment).where(RiskAssessment.location_id == location_id,
                                                     RiskAssessment.computed_at <= now)
                        .order_by(RiskAssessment.computed_at, RiskAssessment.id)).all()
    # The row just written is the score being judged; start from what was in force at the window's start.
    history = [r for r in rows if r.id != new_row_id]
    if not history:
        return None  # a first assessment is a starting point, not a jump
    at_start = [r for r in history if r.computed_at <= since]
    # A home first assessed inside the window is measured from that first assessment, not from 0:
    # otherwise every home's first concern after a register import would look like a jump.
    scores = [at_start[-1].score] if at_start else []
    scores += [r.score for r in history if r.computed_at > since]
    return min(scores)
