"""A location's risk score, explainable factor by factor.

Pure arithmetic over what the store holds; every weight comes from settings (reasoning in
docs/risk.md). Nothing here writes: `triage.risk.assess` records the result.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from models import Concern, ConcernLocation, CqcRating, Location, RiskAssessment
from triage import clock
from triage.config import Settings

# Concerns that no longer count: withdrawn by the sender or judged not a concern.
INACTIVE_STATUSES = ("withdrawn", "not_concern")
KEY_QUESTIONS = ("safe", "effective", "caring", "responsive", "well-led")
# Below this a decayed concern is noise; it is left out of the explanation and the score.
MIN_CONCERN_POINTS = 0.1
RATINGS = ("green", "amber", "red")


@dataclass
class Factor:
    name: str
    points: float
    why: str
    kind: str = "other"  # concern | cqc | manager | contract | funding | finance | qa_visit | sister

    def to_dict(self) -> dict:
        d = asdict(self)
        d["points"] = round(self.points, 1)
        return d


@dataclass
class Score:
    location_id: str
    score: float
    rating: str
    factors: list[Factor] = field(default_factory=list)
    flags: list[dict] = field(default_factory=list)

    def top_factors(self, n: int = 3) -> list[Factor]:
        return sorted((f for f in self.factors if f.points > 0), key=lambda f: -f.points)[:n]

    def factors_dict(self) -> dict:
        return {"factors": [f.to_dict() for f in sorted(self.factors, key=lambda f: -f.points)],
                "flags": self.flags}


def rating_for(score: float, settings: Settings) -> str:
    if score >= settings.risk_red_threshold:
        return "red"
    if score >= settings.risk_amber_threshold:
        return "amber"
    return "green"


def rating_rank(rating: str | None) -> int:
    return RATINGS.index(rating) if rating in RATINGS else -1


def urgency_weight(urgency: str | None, settings: Settings) -> float:
    if urgency == "none":
        return 0.0
    # An unlabelled concern (classifier down, awaiting review) counts as medium, not as nothing.
    return {
        "immediate": settings.risk_weight_immediate,
        "high": settings.risk_weight_high,
        "medium": settings.risk_weight_medium,
        "low": settings.risk_weight_low,
    }.get(urgency or "medium", settings.risk_weight_medium)


def decay(age_days: float, half_life_days: float) -> float:
    return math.pow(0.5, max(age_days, 0.0) / half_life_days)


def _age_text(days: float) -> str:
    if days < 1:
        return "today"
    d = int(days)
    return f"{d} day{'s' if d != 1 else ''} ago"


def concern_factors(*, session: Session, location_id: str, settings: Settings, now: datetime) -> list[Factor]:
    # Beyond ten half-lives a concern is worth under 0.1% of its weight.
    horizon = now - timedelta(days=settings.risk_half_life_days * 10)
    rows = session.exec(
        select(Concern)
        .join(ConcernLocation, ConcernLocation.concern_id == Concern.id)
        .where(ConcernLocation.location_id == location_id, Concern.received_at >= horizon,
               Concern.received_at <= now, Concern.status.not_in(INACTIVE_STATUSES))
        .order_by(Concern.received_at)
    ).all()
    out = []
    for c in rows:
        base = urgency_weight(c.urgency, settings)
        sg = settings.risk_weight_safeguarding if c.safeguarding else 0.0
        if base + sg <= 0:
            continue
        age = (now - c.received_at).total_seconds() / 86400
        k = decay(age, settings.risk_half_life_days)
        pts = (base + sg) * k
        if pts < MIN_CONCERN_POINTS:
            continue
        parts = [f"{c.urgency or 'unlabelled (counted as medium)'} urgency {base:g}"]
        if sg:
            parts.append(f"safeguarding ({', '.join(c.safeguarding)}) {sg:g}")
        why = (f"{' + '.join(parts)}, received {_age_text(age)} "
               f"(x{k:.2f} at a {settings.risk_half_life_days:g}-day half-life)")
        out.append(Factor(f"concern {c.reference or c.id}", pts, why, "concern"))
    return out


def cqc_factors(*, session: Session, location_id: str, settings: Settings) -> list[Factor]:
    rows = session.exec(select(CqcRating).where(CqcRating.location_id == location_id, CqcRating.current == True)  # noqa: E712
                        ).all()
    latest: dict[str, CqcRating] = {}
    for r in rows:
        kq = r.key_question.lower()
        if kq not in latest or (r.published_on or date.min) > (latest[kq].published_on or date.min):
            latest[kq] = r
    if "overall" not in latest:
        return [Factor("CQC not yet rated", settings.risk_weight_cqc_unrated,
                       "no published CQC rating: nothing independent to set against the intelligence", "cqc")]
    out = []
    overall = latest["overall"]
    when = f" (published {overall.published_on.isoformat()})" if overall.published_on else ""
    if overall.rating.lower() == "inadequate":
        out.append(Factor("CQC overall Inadequate", settings.risk_weight_cqc_inadequate_overall,
                          f"latest CQC overall rating is Inadequate{when}", "cqc"))
    elif overall.rating.lower() == "requires improvement":
        out.append(Factor("CQC overall Requires improvement", settings.risk_weight_cqc_requires_improvement_overall,
                          f"latest CQC overall rating is Requires improvement{when}", "cqc"))
    for kq in KEY_QUESTIONS:
        r = latest.get(kq)
        if r is None:
            continue
        if r.rating.lower() == "inadequate":
            out.append(Factor(f"CQC {kq} Inadequate", settings.risk_weight_cqc_inadequate_key_question,
                              f"the {kq} key question is rated Inadequate", "cqc"))
        elif r.rating.lower() == "requires improvement":
            out.append(Factor(f"CQC {kq} Requires improvement",
                              settings.risk_weight_cqc_requires_improvement_key_question,
                              f"the {kq} key question is rated Requires improvement", "cqc"))
    return out


def register_factors(*, location: Location, settings: Settings, today: date) -> list[Factor]:
    out = []
    rm = (location.registered_manager or "").lower()
    since = f" since {location.manager_changed_on.isoformat()}" if location.manager_changed_on else ""
    if rm == "vacant":
        out.append(Factor("registered manager vacant", settings.risk_weight_manager_vacant,
                          f"no registered manager{since}", "manager"))
    elif rm == "acting":
        out.append(Factor("acting manager", settings.risk_weight_manager_acting,
                          f"an acting (unregistered) manager is in charge{since}", "manager"))
    elif location.manager_changed_on and (today - location.manager_changed_on).days <= settings.risk_manager_recent_days:
        days = (today - location.manager_changed_on).days
        out.append(Factor("registered manager changed recently", settings.risk_weight_manager_recent_change,
                          f"manager changed on {location.manager_changed_on.isoformat()} ({days} days ago, "
                          f"within {settings.risk_manager_recent_days})", "manager"))
    if (location.contract_status or "").lower() == "suspended":
        out.append(Factor("contract suspended", settings.risk_weight_contract_suspended,
                          "the council's contract (new placements) is suspended", "contract"))
    if location.beds and location.council_funded_residents is not None:
        share = location.council_funded_residents / location.beds
        if share >= settings.risk_council_funded_threshold:
            out.append(Factor("council-funded share high", settings.risk_weight_council_funded_high,
                              f"{location.council_funded_residents} of {location.beds} beds council-funded "
                              f"({share:.0%}, threshold {settings.risk_council_funded_threshold:.0%})", "funding"))
    fin = (location.financial_risk or "").lower()
    if fin == "high":
        out.append(Factor("financial risk high", settings.risk_weight_financial_high,
                          "provider financial risk assessed high", "finance"))
    elif fin == "medium":
        out.append(Factor("financial risk medium", settings.risk_weight_financial_medium,
                          "provider financial risk assessed medium", "finance"))
    if location.last_qa_visit is not None:
        days = (today - location.last_qa_visit).days
        if days > settings.risk_qa_visit_overdue_days:
            out.append(Factor("QA visit overdue", settings.risk_weight_qa_visit_overdue,
                              f"last QA visit {location.last_qa_visit.isoformat()} ({days} days ago, "
                              f"more than {settings.risk_qa_visit_overdue_days})", "qa_visit"))
    return out


def sister_flags(*, session: Session, location: Location) -> list[dict]:
    """Red sister homes (same provider): a flag, not points, so one red home cannot cascade."""
    sisters = session.exec(select(Location).where(Location.provider_id == location.provider_id,
                                                  Location.location_id != location.location_id)).all()
    if not sisters:
        return []
    ids = [s.location_id for s in sisters]
    red = session.exec(select(RiskAssessment).where(RiskAssessment.location_id.in_(ids),
                                                    RiskAssessment.current == True,  # noqa: E712
                                                    RiskAssessment.rating == "red")).all()
    names = {s.location_id: s.name for s in sisters}
    return [{"flag": "sister_red", "location_id": r.location_id, "name": names.get(r.location_id, r.location_id),
             "why": f"sister home {names.get(r.location_id, r.location_id)} (same provider) is rated red "
                    f"({r.score:.0f})"} for r in red]


def score_location(*, session: Session, location: Location, settings: Settings,
                   now: datetime | None = None) -> Score:
    now = now or clock.now()
    today = now.date()
    factors = concern_factors(session=session, location_id=location.location_id, settings=settings, now=now)
    factors += cqc_factors(session=session, location_id=location.location_id, settings=settings)
    factors += register_factors(location=location, settings=settings, today=today)
    total = round(sum(f.points for f in factors), 1)
    flags = sister_flags(session=session, location=location)
    return Score(location.location_id, total, rating_for(total, settings), factors, flags)
