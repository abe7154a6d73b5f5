"""Escalation of unacknowledged alerts: officer → their manager (level 1) → duty desk (level 2).

`immediate`: after settings.escalation_immediate_minutes, then escalation_duty_minutes more.
`high`: after escalation_high_working_days working days at each step (working hours, weekdays,
UK bank holidays). Alert.escalates_at is the source of truth; an APScheduler timer in the
persistent job store fires `escalate(alert_id)` on time and the sweep catches any it missed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session, select

from models import Alert, AlertConcern, Officer
from triage import audit, clock
from triage.config import Settings
from triage.locks import exclusive
from triage.services import Services

from . import scheduling
from .workingtime import add_working_days

log = logging.getLogger(__name__)

ESCALATING_REASONS = ("portfolio", "reassigned")
JOB_FUNC = "triage.risk.escalation:escalate"


def job_id(alert_id: int, level: int = 0) -> str:
    # One ID per step: with several processes sharing the job store, one that finishes running
    # step N and deletes its spent job can never delete the step N+1 timer another just added.
    return f"escalate:{alert_id}" if level == 0 else f"escalate:{alert_id}:{level}"


def next_deadline(*, urgency: str | None, level: int, start: datetime, settings: Settings) -> datetime | None:
    """When an alert at `level` (0 officer, 1 manager) escalates if still unacknowledged."""
    if level >= 2:
        return None
    if urgency == "immediate":
        minutes = settings.escalation_immediate_minutes if level == 0 else settings.escalation_duty_minutes
        return start + timedelta(minutes=minutes)
    if urgency == "high":
        return add_working_days(start, settings.escalation_high_working_days, settings)
    return None


def _escalates(alert: Alert) -> bool:
    return alert.kind == "concern" and alert.escalated_from_id is None and alert.reason in ESCALATING_REASONS


def reschedule(*, session: Session, alert: Alert, services: Services) -> None:
    """Set (or clear) the alert's deadline from its urgency; persists the timer after commit."""
    settings = services.settings
    if alert.status != "open" or not _escalates(alert):
        clear(session=session, alert=alert, services=services)
        return
    if alert.escalation_level == 0:
        due = next_deadline(urgency=alert.urgency, level=0, start=alert.created_at, settings=settings)
    else:
        # Already escalated: keep the running deadline unless the urgency no longer escalates at all.
        due = alert.escalates_at if alert.urgency in ("immediate", "high") else None
    if due == alert.escalates_at:
        return
    alert.escalates_at = due
    session.add(alert)
    if due is None:
        clear(session=session, alert=alert, services=services)
        return
    _persist_timer(session=session, alert=alert, services=services, due=due)


def _persist_timer(*, session: Session, alert: Alert, services: Services, due: datetime) -> None:
    aid, level = alert.id, alert.escalation_level
    scheduling.after_commit(session, services, lambda: scheduling.schedule_once(
        services, job_id=job_id(aid, level), func=JOB_FUNC, run_at=due, args=[aid]))


def clear(*, session: Session, alert: Alert, services: Services) -> None:
    alert.escalates_at = None
    session.add(alert)
    aid = alert.id


    def _cancel_all():
        for level in (0, 1):
            scheduling.cancel(services, job_id=job_id(aid, level))

    scheduling.after_commit(session, services, _cancel_all)


def _duty_officers(session: Session) -> list[Officer]:
    return list(session.exec(select(Officer).where(Officer.role == "duty", Officer.active == True)  # noqa: E712
                             .order_by(Officer.officer_id)).all())


def escalate_alert(*, session: Session, alert_id: int, services: Services, now: datetime | None = None) -> list[Alert]:
    """Escalate one overdue alert by one level; a no-op unless it is open and due. Caller commits."""
    from .alerts import ensure_deliveries

    now = now or clock.now()
    settings = services.settings
    q = select(Alert).where(Alert.id == alert_id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    root = session.exec(q).first()
    if root is None or root.status != "open" or root.escalates_at is None or root.escalates_at > now:
        return []
    recipient = session.get(Officer, root.recipient_id)
    level = root.escalation_level + 1
    targets: list[Officer] = []
    if level == 1:
        manager = session.get(Officer, recipient.manager_id) if recipient and recipient.manager_id else None
        if manager is not None and manager.active:
            targets = [manager]
        else:
            level = 2
    if level == 2:
        targets = [d for d in _duty_officers(session) if d.officer_id != root.recipient_id]
    if level > 2 or not targets:
        root.escalates_at = None
        session.add(root)
        audit.record(session=session, actor="system:escalation", action="alert.escalation_exhausted",
                     entity_type="alert", entity_id=root.id, details={"level": root.escalation_level})
        return []
    already = {a.recipient_id for a in session.exec(
        select(Alert).where(Alert.escalated_from_id == root.id, Alert.escalation_level == level)).all()}
    created = []
    for target in targets:
        if target.officer_id in already:
            continue
        waited = now - root.created_at
        esc = Alert(group_key=root.group_key, recipient_id=target.officer_id, location_id=root.location_id,
                    kind="escalation", reason="manager" if level == 1 else "duty", urgency=root.urgency,
                    status="open", escalation_level=level, escalated_from_id=root.id,
                    details={**(root.details or {}), "escalated_from_officer": root.recipient_id,
                             "unacknowledged_minutes": int(waited.total_seconds() // 60)},
                    created_at=now, updated_at=now)
        session.add(esc)
        session.flush()
        for link in session.exec(select(AlertConcern).where(AlertConcern.alert_id == root.id)).all():
            session.add(AlertConcern(alert_id=esc.id, concern_id=link.concern_id))
        ensure_deliveries(session=session, alert=esc, settings=settings)
        audit.record(session=session, actor="system:escalation", action="alert.escalated", entity_type="alert",
                     entity_id=root.id, details={"level": level, "to": target.officer_id, "escalation_alert": esc.id,
                                                 "unacknowledged_minutes": int(waited.total_seconds() // 60)})
        created.append(esc)
    spent = job_id(root.id, root.escalation_level)
    # The step just taken: its timer is spent (a sweep may have got here before the timer fired).
    scheduling.after_commit(session, services, lambda: scheduling.cancel(services, job_id=spent))
    root.escalation_level = level
    root.escalates_at = next_deadline(urgency=root.urgency, level=level, start=now, settings=settings)
    root.updated_at = now
    session.add(root)
    if root.escalates_at is not None:
        _persist_timer(session=session, alert=root, services=services, due=root.escalates_at)
    session.flush()
    return created


def run_escalation(*, services: Services, alert_id: int) -> list[int]:
    """Escalate under a cross-process lock, commit, then send. Returns the new alerts' IDs."""
    from triage.notify.dispatch import dispatch_pending

    with exclusive(f"escalate:{alert_id}", engine=services.engine) as got:
        if not got:
            return []
        with Session(services.engine, expire_on_commit=False) as session:
            created = escalate_alert(session=session, alert_id=alert_id, services=services)
            session.commit()
            ids = [a.id for a in created]
    if ids:
        with Session(services.engine, expire_on_commit=False) as session:
            dispatch_pending(session=session, services=services, alert_ids=ids)
    return ids


def escalate(alert_id: int) -> None:
    """APScheduler job: importable, arguments are IDs only, safe to run twice or late."""
    services = scheduling.process_services()
    try:
        run_escalation(services=services, alert_id=int(alert_id))
    except Exception:
        log.exception("escalation of alert %s failed; the sweep will retry", alert_id)


def overdue_alert_ids(*, session: Session, now: datetime | None = None) -> list[int]:
    now = now or clock.now()
    return list(session.exec(select(Alert.id).where(Alert.status == "open", Alert.escalates_at != None,  # noqa: E711
                                                    Alert.escalates_at <= now).order_by(Alert.escalates_at)).all())


def sweep(*, services: Services) -> list[int]:
    """Escalate everything overdue (a timer lost, a process down when it was due)."""
    with Session(services.engine, expire_on_commit=False) as session:
        ids = overdue_alert_ids(session=session)
    created: list[int] = []
    for aid in ids:
        created += run_escalation(services=services, alert_id=aid)
    return created
