"""Alerts: one per concern per recipient, grouped per incident, updated in a storm.

Writes Alert, AlertConcern and AlertDelivery (outbox) rows only; sending happens after the
caller commits (`triage.notify.dispatch.dispatch_pending`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlmodel import Session, select

from models import Alert, AlertConcern, AlertDelivery, Concern, ConcernSource, Officer
from triage import audit, clock
from triage.config import Settings
from triage.services import Services

from . import escalation
from .routing import Recipient

URGENCY_ORDER = ("none", "low", "medium", "high", "immediate")
# Alerts for these are delivered at once; medium and low wait for the daily digest.
REALTIME_URGENCIES = ("immediate", "high")
INACTIVE_STATUSES = ("withdrawn", "not_concern")


class AlertError(ValueError):
    pass


def urgency_rank(u: str | None) -> int:
    return URGENCY_ORDER.index(u) if u in URGENCY_ORDER else URGENCY_ORDER.index("medium")


def max_urgency(values) -> str | None:
    vals = [v for v in values if v]
    return max(vals, key=urgency_rank) if vals else None


def slack_configured(settings: Settings) -> bool:
    return settings.slack_bot_token is not None and settings.slack_mode != "off"


def alert_concerns(*, session: Session, alert_id: int, active_only: bool = True) -> list[Concern]:
    q = (select(Concern).join(AlertConcern, AlertConcern.concern_id == Concern.id)
         .where(AlertConcern.alert_id == alert_id).order_by(Concern.received_at, Concern.id))
    rows = session.exec(q).all()
    return [c for c in rows if c.status not in INACTIVE_STATUSES] if active_only else list(rows)


def _sources(*, session: Session, concern_ids: list[int]) -> list[str]:
    if not concern_ids:
        return []
    rows = session.exec(select(ConcernSource.source).where(ConcernSource.concern_id.in_(concern_ids))).all()
    return sorted(set(rows))


def ensure_deliveries(*, session: Session, alert: Alert, settings: Settings) -> list[AlertDelivery]:
    """Outbox rows per channel the recipient can be reached on (both optional by settings)."""
    officer = session.get(Officer, alert.recipient_id)
    if officer is None:
        return []
    have = {d.channel: d for d in session.exec(select(AlertDelivery).where(AlertDelivery.alert_id == alert.id)).all()}
    wanted = []
    if settings.alert_via_slack and officer.slack_user_id and slack_configured(settings):
        wanted.append(("slack", officer.slack_user_id))
    if settings.alert_via_email and officer.email and settings.smtp_enabled:
        wanted.append(("email", officer.email))
    out = []
    for channel, target in wanted:
        d = have.get(channel)
        if d is None:
            d = AlertDelivery(alert_id=alert.id, channel=channel, target=target, status="pending",
                              created_at=clock.now())
            session.add(d)
        out.append(d)
    session.flush()
    return out


def mark_changed(*, session: Session, alert: Alert) -> None:
    """The alert's content changed: messages already sent are edited/followed up on the next dispatch."""
    alert.updated_at = clock.now()
    session.add(alert)
    for d in session.exec(select(AlertDelivery).where(AlertDelivery.alert_id == alert.id)).all():
        if d.status == "sent":
            d.needs_update = True
            d.next_attempt_at = None
            session.add(d)


def refresh_alert(*, session: Session, alert: Alert, settings: Settings, extra: dict | None = None) -> None:
    """Recompute urgency, sources and references from the alert's active concerns."""
    concerns = alert_concerns(session=session, alert_id=alert.id)
    details = dict(alert.details or {})
    details.update(extra or {})
    details["concerns"] = [{"id": c.id, "reference": c.reference, "source": c.source, "urgency": c.urgency,
                            "received_at": c.received_at.isoformat(), "topics": list(c.topics or []),
                            "safeguarding": list(c.safeguarding or [])} for c in concerns]
    details["sources"] = _sources(session=session, concern_ids=[c.id for c in concerns])
    details["concern_count"] = len(concerns)
    alert.details = details
    alert.urgency = max_urgency(c.urgency for c in concerns) or alert.urgency
    alert.updated_at = clock.now()
    session.add(alert)


# --- grouping -------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9']{3,}")


def _tokens(text: str) -> set[str]:
    return set(_WORD.findall((text or "").lower()))


def _similar(a: Concern, b: Concern) -> bool:
    ta, tb = _tokens(a.clean_text), _tokens(b.clean_text)
    if not ta or not tb:
        return False
    return len(ta & tb) / len(ta | tb) >= 0.3


def _labels_overlap(a: Concern, b: Concern) -> bool:
    return bool(set(a.topics or []) & set(b.topics or []) or set(a.safeguarding or []) & set(b.safeguarding or []))


def _match(*, session: Session, concern: Concern, recipient: Recipient, settings: Settings) -> tuple[Alert, str] | None:
    """An open alert of this recipient that this concern belongs to: (alert, 'storm'|'group')."""
    window = max(settings.alert_group_minutes, settings.alert_storm_minutes)
    if window <= 0:
        return None
    since = concern.received_at - timedelta(minutes=window)
    candidates = session.exec(
        select(Alert).where(Alert.recipient_id == recipient.officer_id, Alert.kind == "concern",
                            Alert.status == "open", Alert.escalated_from_id == None)  # noqa: E711
        .order_by(Alert.created_at.desc(), Alert.id.desc())
    ).all()
    locs = set(recipient.location_ids)
    for alert in candidates:
        others = alert_concerns(session=session, alert_id=alert.id)
        others = [o for o in others if o.id != concern.id and o.received_at >= since]
        if not others:
            continue
        alert_locs = set((alert.details or {}).get("location_ids") or ([alert.location_id] if alert.location_id else []))
        same_home = bool(locs & alert_locs)
        for o in others:
            gap = abs((concern.received_at - o.received_at).total_seconds()) / 60
            if same_home and gap <= settings.alert_storm_minutes:
                return alert, "storm"
            if gap <= settings.alert_group_minutes:
                if same_home and (_labels_overlap(concern, o) or _similar(concern, o)):
                    return alert, "group"
                if not locs and not alert_locs and _similar(concern, o):
                    return alert, "group"
    return None


# --- the concern's alerts -------------------------------------------------------------------

def existing_alerts_for_concern(*, session: Session, concern_id: int) -> list[Alert]:
    return list(session.exec(
        select(Alert).join(AlertConcern, AlertConcern.alert_id == Alert.id)
        .where(AlertConcern.concern_id == concern_id, Alert.kind == "concern",
               Alert.escalated_from_id == None)  # noqa: E711
    ).all())


def unlink_concern(*, session: Session, alert: Alert, concern: Concern, services: Services, actor: str,
                   why: str) -> None:
    """Take a concern off an alert; an alert left with nothing active is cancelled."""
    link = session.get(AlertConcern, (alert.id, concern.id))
    if link is not None:
        session.delete(link)
        session.flush()
    remaining = alert_concerns(session=session, alert_id=alert.id)
    if remaining:
        refresh_alert(session=session, alert=alert, settings=services.settings)
        mark_changed(session=session, alert=alert)
        escalation.reschedule(session=session, alert=alert, services=services)
        return
    cancel_alert(session=session, alert=alert, services=services, actor=actor, why=why)


def cancel_alert(*, session: Session, alert: Alert, services: Services, actor: str, why: str) -> None:
    for a in chain(session=session, alert=alert):
        if a.status != "open":
            continue
        a.status = "cancelled"
        a.details = {**(a.details or {}), "cancelled_because": why}
        escalation.clear(session=session, alert=a, services=services)
        mark_changed(session=session, alert=a)
        for d in session.exec(select(AlertDelivery).where(AlertDelivery.alert_id == a.id,
                                                          AlertDelivery.status == "pending")).all():
            d.status = "cancelled"
            session.add(d)
        audit.record(session=session, actor=actor, action="alert.cancelled", entity_type="alert", entity_id=a.id,
                     details={"why": why})


def upsert_concern_alerts(*, session: Session, concern: Concern, recipients: list[Recipient], services: Services,
                          actor: str = "system:risk") -> list[Alert]:
    """Bring the concern's alerts in line with its recipients. Idempotent."""
    settings = services.settings
    now = clock.now()
    touched: list[Alert] = []
    existing = {a.recipient_id: a for a in existing_alerts_for_concern(session=session, concern_id=concern.id)}
    wanted = {r.officer_id: r for r in recipients} if concern.urgency != "none" \
        and concern.status not in INACTIVE_STATUSES else {}
    for officer_id, alert in existing.items():
        if officer_id not in wanted:
            unlink_concern(session=session, alert=alert, concern=concern, services=services, actor=actor,
                           why=f"concern {concern.reference} no longer routed to {officer_id}")
            touched.append(alert)
    for officer_id, r in wanted.items():
        alert = existing.get(officer_id)
        how = "existing"
        if alert is None:
            m = _match(session=session, concern=concern, recipient=r, settings=settings)
            if m is not None:
                alert, how = m
                session.add(AlertConcern(alert_id=alert.id, concern_id=concern.id))
                session.flush()
        if alert is None:
            how = "new"
            alert = Alert(group_key=f"{'+'.join(r.location_ids) or 'none'}:{concern.id}"[:128],
                          recipient_id=officer_id, location_id=r.location_ids[0] if r.location_ids else None,
                          kind="concern", reason=r.reason, urgency=concern.urgency, status="open",
                          details={"location_ids": list(r.location_ids), "why": r.why},
                          created_at=now, updated_at=now)
            session.add(alert)
            session.flush()
            session.add(AlertConcern(alert_id=alert.id, concern_id=concern.id))
            session.flush()
        before = (alert.urgency, (alert.details or {}).get("concerns"))
        locs = list(dict.fromkeys(list((alert.details or {}).get("location_ids") or []) + r.location_ids))
        extra = {"location_ids": locs, "why": list(dict.fromkeys(list((alert.details or {}).get("why") or []) + r.why))}
        if how in ("storm", "group"):
            extra["grouped"] = how
        refresh_alert(session=session, alert=alert, settings=settings, extra=extra)
        if alert.status == "open" and alert.urgency in REALTIME_URGENCIES:
            ensure_deliveries(session=session, alert=alert, settings=settings)
        if how == "new":
            audit.record(session=session, actor=actor, action="alert.created", entity_type="alert",
                         entity_id=alert.id, details={"concern": concern.reference, "recipient": officer_id,
                                                      "reason": r.reason, "urgency": alert.urgency})
        elif how in ("storm", "group"):
            audit.record(session=session, actor=actor, action=f"alert.{how}_linked", entity_type="alert",
                         entity_id=alert.id, details={"concern": concern.reference, "recipient": officer_id})
        if how != "new" and before != (alert.urgency, (alert.details or {}).get("concerns")):
            mark_changed(session=session, alert=alert)  # more concerns, or corrected labels: show them
        escalation.reschedule(session=session, alert=alert, services=services)
        touched.append(alert)
    return touched


# --- acknowledgement and hand-over ----------------------------------------------------------

def chain(*, session: Session, alert: Alert) -> list[Alert]:
    """The alert that started an escalation and every escalation of it."""
    root = session.get(Alert, alert.escalated_from_id) if alert.escalated_from_id else alert
    rows = session.exec(select(Alert).where(Alert.escalated_from_id == root.id).order_by(Alert.id)).all()
    return [root, *rows]


def acknowledge_alert(*, session: Session, alert_id: int, actor: str, services: Services | None = None) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertError(f"no alert {alert_id}")
    if alert.status == "cancelled":
        raise AlertError(f"alert {alert_id} was cancelled")
    services = services or _services(session)
    now = clock.now()
    for a in chain(session=session, alert=alert):
        if a.status != "open":
            continue
        a.status = "acknowledged"
        a.acknowledged_at = now
        a.acknowledged_by = actor[:64]
        escalation.clear(session=session, alert=a, services=services)
        mark_changed(session=session, alert=a)
        for d in session.exec(select(AlertDelivery).where(AlertDelivery.alert_id == a.id,
                                                          AlertDelivery.status == "pending")).all():
            if a.id != alert.id and a.escalated_from_id is not None:
                d.status = "cancelled"  # an escalation nobody has seen yet need not be sent at all
                session.add(d)
        audit.record(session=session, actor=actor, action="alert.acknowledged", entity_type="alert", entity_id=a.id,
                     details={"via_alert": alert.id, "level": a.escalation_level})
    session.flush()
    return alert


def reassign_alert(*, session: Session, alert_id: int, to_officer_id: str, actor: str,
                   services: Services | None = None) -> Alert:
    """Hand an alert to another officer: the old one is closed as reassigned, a new one opens."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertError(f"no alert {alert_id}")
    target = session.get(Officer, to_officer_id)
    if target is None or not target.active:
        raise AlertError(f"no active officer {to_officer_id}")
    if alert.status != "open":
        raise AlertError(f"alert {alert_id} is {alert.status}")
    services = services or _services(session)
    now = clock.now()
    root = chain(session=session, alert=alert)[0]
    new = Alert(group_key=root.group_key, recipient_id=to_officer_id, location_id=root.location_id, kind=root.kind,
                reason="reassigned", urgency=root.urgency, status="open",
                details={**(root.details or {}), "reassigned_from": alert.recipient_id},
                created_at=now, updated_at=now)
    session.add(new)
    session.flush()
    for c in alert_concerns(session=session, alert_id=root.id, active_only=False):
        session.add(AlertConcern(alert_id=new.id, concern_id=c.id))
    for a in chain(session=session, alert=root):
        if a.status == "open":
            a.status = "cancelled"
            a.details = {**(a.details or {}), "reassigned_to": to_officer_id, "cancelled_because": "reassigned"}
            escalation.clear(session=session, alert=a, services=services)
            mark_changed(session=session, alert=a)
    session.flush()
    if new.urgency in REALTIME_URGENCIES:
        ensure_deliveries(session=session, alert=new, settings=services.settings)
    escalation.reschedule(session=session, alert=new, services=services)
    audit.record(session=session, actor=actor, action="alert.reassigned", entity_type="alert", entity_id=root.id,
                 details={"from": alert.recipient_id, "to": to_officer_id, "new_alert": new.id})
    return new


def _services(session: Session) -> Services:
    from triage.config import get_settings

    return Services(settings=get_settings(), engine=session.get_bind())


def open_alerts(*, session: Session, officer_id: str | None = None, status: str | None = "open",
                limit: int = 200) -> list[Alert]:
    q = select(Alert)
    if status:
        q = q.where(Alert.status == status)
    if officer_id:
        q = q.where(Alert.recipient_id == officer_id)
    return list(session.exec(q.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit)).all())


def as_of(dt: datetime | None) -> str:
    return dt.isoformat(timespec="minutes") if dt else ""
