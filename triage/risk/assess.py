"""Record a location's score as history: a row only when the score or rating moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from models import Location, RiskAssessment
from triage import audit, clock
from triage.config import Settings

from .scoring import Score, rating_rank, score_location

# Smaller moves (a day's decay on a quiet home) are not history worth a row.
SCORE_EPSILON = 0.5


@dataclass
class Assessment:
    score: Score
    previous: RiskAssessment | None
    written: RiskAssessment | None  # the new row, when something changed

    @property
    def rating_changed(self) -> bool:
        return self.written is not None and (self.previous is None or self.previous.rating != self.written.rating)

    @property
    def rose(self) -> bool:
        """The rating went up a band (green→amber, amber→red, or a first assessment above green)."""
        prev = self.previous.rating if self.previous else "green"
        return self.written is not None and rating_rank(self.written.rating) > rating_rank(prev)


def current_assessment(*, session: Session, location_id: str) -> RiskAssessment | None:
    return session.exec(select(RiskAssessment).where(RiskAssessment.location_id == location_id,
                                                     RiskAssessment.current == True)  # noqa: E712
                        .order_by(RiskAssessment.computed_at.desc(), RiskAssessment.id.desc())).first()


def assess_location(*, session: Session, location_id: str, settings: Settings, reason: str,
                    actor: str = "system:risk", now: datetime | None = None) -> Assessment | None:
    location = session.get(Location, location_id)
    if location is None:
        return None
    now = now or clock.now()
    score = score_location(session=session, location=location, settings=settings, now=now)
    prev = current_assessment(session=session, location_id=location_id)
    if prev is not None and prev.rating == score.rating and abs(prev.score - score.score) < SCORE_EPSILON:
        if prev.factors.get("flags") != score.flags:
            # A sister flag raised or lowered: shown on the card, not a change of score worth history.
            prev.factors = {**prev.factors, "flags": score.flags}
            session.add(prev)
        return Assessment(score, prev, None)
    if prev is None and score.score == 0 and not score.flags:
        # Nothing known against a home: no row needed; "no assessment" reads as green 0.
        return Assessment(score, None, None)
    if prev is not None:
        prev.current = False
        session.add(prev)
    row = RiskAssessment(location_id=location_id, score=score.score, rating=score.rating,
                         previous_rating=prev.rating if prev else None, factors=score.factors_dict(),
                         reason=reason[:500], current=True, computed_at=now)
    session.add(row)
    session.flush()
    if (prev is None and row.rating != "green") or (prev is not None and prev.rating != row.rating):
        audit.record(session=session, actor=actor, action="risk.rating_changed", entity_type="location",
                     entity_id=location_id, details={"from": prev.rating if prev else None, "to": row.rating,
                                                     "score": row.score, "reason": row.reason[:200]})
    return Assessment(score, prev, row)


def score_at(*, session: Session, location_id: str, when: datetime) -> RiskAssessment | None:
    """The assessment in force at a past moment (for trends and jumps)."""
    return session.exec(select(RiskAssessment).where(RiskAssessment.location_id == location_id,
                                                     RiskAssessment.computed_at <= when)
                        .order_by(RiskAssessment.computed_at.desc(), RiskAssessment.id.desc())).first()
