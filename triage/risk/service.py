"""What happens to the risk picture when a concern is stored, corrected or withdrawn.

Called by the pipeline inside its transaction; writes assessments, alerts and outbox rows
and never sends (the caller commits, then dispatches).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session, select

from models import Alert, AlertConcern, Concern, Location, Officer, RiskAssessment
from triage import audit, clock
from triage.services import Services

from . import alerts as alerts_mod
from .assess import Assessment, assess_location
from .early_warning import check as early_warning_check
from .routing import concern_location_ids, portfolio_officers, route_concern

log = logging.getLogger(__name__)


def _locations_touched(*, session: Session, concern: Concern) -> list[str]:
    """Homes linked now, plus homes it was linked to before a correction (their score must drop)."""
    ids = set(concern_location_ids(session=session, concern_id=concern.id))
    for a in alerts_mod.existing_alerts_for_concern(session=session, concern_id=concern.id):
        ids.update((a.details or {}).get("location_ids") or [])
    if concern.reference:
        needle = f"concern {concern.reference}"
        for ra in session.exec(select(RiskAssessment).where(RiskAssessment.current == True)).all():  # noqa: E712
            if any(f.get("name") == needle for f in (ra.factors or {}).get("factors", [])):
                ids.add(ra.location_id)
    return sorted(ids)


def on_concern_changed(*, session: Session, concern: Concern, services: Services) -> list[Alert]:
    settings = services.settings
    existing = alerts_mod.existing_alerts_for_concern(session=session, concern_id=concern.id)
    if concern.status in alerts_mod.INACTIVE_STATUSES:
        what = concern.status.replace("_", " ")
    elif existing or concern.labels_source == "officer":
        what = "labels changed"
    else:
        what = f"received ({concern.urgency or 'unlabelled'})"
    reason = f"concern {concern.reference or concern.id} {what}"
    touched: list[Alert] = []
    assessments: list[Assessment] = []
    for lid in _locations_touched(session=session, concern=concern):
        a = assess_location(session=session, location_id=lid, settings=settings, reason=reason)
        if a is not None:
            assessments.append(a)
    recipients = route_concern(session=session, concern=concern)
    touched += alerts_mod.upsert_concern_alerts(session=session, concern=concern, recipients=recipients,
                                                services=services)
    for a in assessments:
        touched += after_assessment(session=session, assessment=a, services=services)
    session.flush()
    return list({a.id: a for a in touched}.values())


def after_assessment(*, session: Session, assessment: Assessment, services: Services) -> list[Alert]:
    """Early warning and sister flags that follow from a (re)assessment."""
    out: list[Alert] = []
    s = assessment.score
    reasons = early_warning_check(session=session, location_id=s.location_id, settings=services.settings,
                                  score=s.score, now=clock.now(),
                                  new_row_id=assessment.written.id if assessment.written else None)
    if reasons:
        out += raise_early_warning(session=session, location_id=s.location_id, reasons=reasons, score=s,
                                   services=services)
    if assessment.written is not None and assessment.written.rating == "red" and assessment.rose:
        if assessment.previous is None:
            # A first assessment (the first register import) is the starting picture, not news:
            # the sister homes' cards carry the flag, but nobody is messaged.
            _refresh_sisters(session=session, location_id=s.location_id, services=services,
                             reason=f"sister home {s.location_id} rated red")
        else:
            out += flag_sisters(session=session, location_id=s.location_id, services=services)
    elif assessment.written is not None and assessment.previous is not None \
            and assessment.previous.rating == "red" and assessment.written.rating != "red":
        _refresh_sisters(session=session, location_id=s.location_id, services=services,
                         reason=f"sister home {s.location_id} no longer red")
    return out


def _officers_and_managers(*, session: Session, location_id: str) -> list[tuple[str, str]]:
    loc = session.get(Location, location_id)
    holders = portfolio_officers(session=session, location_id=location_id) if loc and loc.monitored else []
    out: dict[str, str] = {}
    for o in holders:
        out.setdefault(o.officer_id, "early_warning")
        if o.manager_id:
            m = session.get(Officer, o.manager_id)
            if m is not None and m.active:
                out.setdefault(m.officer_id, "manager")
    if not out:
        for d in session.exec(select(Officer).where(Officer.role == "duty", Officer.active == True)).all():  # noqa: E712
            out.setdefault(d.officer_id, "duty")
    return list(out.items())


def _open_flag(*, session: Session, kind: str, group_key: str, recipient_id: str, since) -> Alert | None:
    return session.exec(select(Alert).where(Alert.kind == kind, Alert.group_key == group_key,
                                            Alert.recipient_id == recipient_id, Alert.status != "cancelled",
                                            Alert.created_at >= since)
                        .order_by(Alert.id.desc())).first()


def raise_early_warning(*, session: Session, location_id: str, reasons: list[str], score, services: Services
                        ) -> list[Alert]:
    """To the home's officer and their manager; one per window, updated rather than repeated."""
    settings = services.settings
    now = clock.now()
    since = now - timedelta(days=settings.early_warning_days)
    out = []
    recent_ids = [c.id for c in _recent(session, location_id, since)]
    for officer_id, why in _officers_and_managers(session=session, location_id=location_id):
        alert = _open_flag(session=session, kind="early_warning", group_key=f"ew:{location_id}",
                           recipient_id=officer_id, since=since)
        details = {"location_ids": [location_id], "reasons": reasons, "score": s_score(score),
                   "rating": score.rating, "top_factors": [f.to_dict() for f in score.top_factors()]}
        if alert is not None:
            if (alert.details or {}).get("reasons") != reasons and alert.status == "open":
                alert.details = {**(alert.details or {}), **details}
                alerts_mod.mark_changed(session=session, alert=alert)
                out.append(alert)
            continue
        alert = Alert(group_key=f"ew:{location_id}", recipient_id=officer_id, location_id=location_id,
                      kind="early_warning", reason=why, urgency=None, status="open", details=details,
                      created_at=now, updated_at=now)
        session.add(alert)
        session.flush()
        for cid in recent_ids:
            session.add(AlertConcern(alert_id=alert.id, concern_id=cid))
        alerts_mod.ensure_deliveries(session=session, alert=alert, settings=settings)
        audit.record(session=session, actor="system:risk", action="alert.early_warning", entity_type="alert",
                     entity_id=alert.id, details={"location": location_id, "recipient": officer_id,
                                                  "reasons": reasons})
        out.append(alert)
    return out


def s_score(score) -> float:
    return round(score.score, 1)


def _recent(session: Session, location_id: str, since):
    from .early_warning import recent_concerns

    return recent_concerns(session=session, location_id=location_id, since=since, now=clock.now())


def _sisters(session: Session, location_id: str) -> list[Location]:
    loc = session.get(Location, location_id)
    if loc is None:
        return []
    return list(session.exec(select(Location).where(Location.provider_id == loc.provider_id,
                                                    Location.location_id != location_id)).all())


def _refresh_sisters(*, session: Session, location_id: str, services: Services, reason: str) -> None:
    for sister in _sisters(session, location_id):
        assess_location(session=session, location_id=sister.location_id, settings=services.settings, reason=reason)


def flag_sisters(*, session: Session, location_id: str, services: Services) -> list[Alert]:
    """A home turned red: its sister homes' records carry a flag, and their officers hear of it."""
    now = clock.now()
    red = session.get(Location, location_id)
    out = []
    _refresh_sisters(session=session, location_id=location_id, services=services,
                     reason=f"sister home {red.name if red else location_id} rated red")
    per_officer: dict[str, list[str]] = {}
    for sister in _sisters(session, location_id):
        if not sister.monitored:
            continue
        for o in portfolio_officers(session=session, location_id=sister.location_id):
            per_officer.setdefault(o.officer_id, []).append(sister.location_id)
    for officer_id, sister_ids in per_officer.items():
        key = f"sister:{location_id}"
        if _open_flag(session=session, kind="sister_flag", group_key=key, recipient_id=officer_id,
                      since=now - timedelta(days=services.settings.early_warning_days)) is not None:
            continue
        alert = Alert(group_key=key, recipient_id=officer_id, location_id=sister_ids[0], kind="sister_flag",
                      reason="sister_red", urgency=None, status="open",
                      details={"location_ids": sister_ids, "red_location_id": location_id,
                               "red_location_name": red.name if red else location_id,
                               "reasons": [f"sister home {red.name if red else location_id} (same provider) "
                                           f"is now rated red"]},
                      created_at=now, updated_at=now)
        session.add(alert)
        session.flush()
        alerts_mod.ensure_deliveries(session=session, alert=alert, settings=services.settings)
        audit.record(session=session, actor="system:risk", action="alert.sister_flag", entity_type="alert",
                     entity_id=alert.id, details={"red_location": location_id, "recipient": officer_id,
                                                  "sisters": sister_ids})
        out.append(alert)
    return out


def rescore_all(*, session: Session, services: Services, reason: str = "periodic rescore (decay)",
                location_ids: list[str] | None = None) -> list[Assessment]:
    """Re-assess every home (recency decay, register changes); flags follow as for a concern."""
    ids = location_ids or list(session.exec(select(Location.location_id).order_by(Location.location_id)).all())
    out = []
    for lid in ids:
        a = assess_location(session=session, location_id=lid, settings=services.settings, reason=reason)
        if a is None:
            continue
        out.append(a)
        if a.written is not None:
            after_assessment(session=session, assessment=a, services=services)
    session.flush()
    return out
