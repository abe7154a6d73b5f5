"""Send the alert outbox: pending deliveries and sent ones whose alert changed since.

Each delivery is claimed with a conditional UPDATE (a short lease on next_attempt_at), so two
processes sweeping at once never send it twice. Failures retry with backoff up to
MAX_ATTEMPTS; errors are logged by class, never with message bodies.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, or_, and_, select

from models import Alert, AlertDelivery
from triage import audit, clock
from triage.services import Services

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 3600))


def _due(now):
    return and_(or_(AlertDelivery.status == "pending",
                    and_(AlertDelivery.status == "sent", AlertDelivery.needs_update == True)),  # noqa: E712
                or_(AlertDelivery.next_attempt_at == None, AlertDelivery.next_attempt_at <= now))  # noqa: E711


def _claim(session: Session, delivery_id: int, now) -> bool:
    table = AlertDelivery.__table__
    res = session.execute(
        sa.update(table).where(table.c.id == delivery_id)
        .where(or_(table.c.status == "pending", and_(table.c.status == "sent", table.c.needs_update == True)))  # noqa: E712
        .where(or_(table.c.next_attempt_at == None, table.c.next_attempt_at <= now))  # noqa: E711
        .values(attempts=table.c.attempts + 1, next_attempt_at=now + LEASE)
    )
    session.commit()
    return res.rowcount == 1


def _error_text(err: Exception) -> str:
    # Slack errors carry an error code worth keeping; other messages may echo content, so only the class.
    resp = getattr(err, "response", None)
    code = None
    try:
        code = resp.get("error") if resp is not None else None
    except Exception:
        code = None
    return f"{err.__class__.__name__}{': ' + str(code) if code else ''}"[:200]


def _send_slack(*, session: Session, services: Services, alert: Alert, delivery: AlertDelivery, update: bool):
    client = services.slack_client
    if client is None:
        raise RuntimeError("Slack is not configured")
    from bot import alerts as slack_alerts  # the Slack side renders and posts the alert

    fn = slack_alerts.update_alert if update and delivery.slack_ts else slack_alerts.post_alert
    result = fn(session=session, client=client, alert=alert, delivery=delivery, settings=services.settings)
    if isinstance(result, tuple) and len(result) == 2:  # post_alert returns (DM channel, ts)
        delivery.slack_channel, delivery.slack_ts = result


def _send_email(*, session: Session, services: Services, alert: Alert, delivery: AlertDelivery, update: bool):
    from triage.risk.render import alert_email

    from .email import send_email

    subject, text, html = alert_email(session=session, alert=alert, settings=services.settings)
    if update:
        subject = f"Update: {subject}"
    mid = send_email(services.settings, to=delivery.target, subject=subject, text=text, html=html,
                     in_reply_to=delivery.email_message_id if update else None)
    if not update:
        delivery.email_message_id = (mid or "")[:256] or None


def dispatch_pending(*, session: Session, services: Services, alert_ids: list[int] | None = None) -> int:
    """Send what is due; returns how many deliveries were sent or updated. Commits as it goes."""
    now = clock.now()
    q = select(AlertDelivery.id).where(_due(now)).order_by(AlertDelivery.id)
    if alert_ids is not None:
        if not alert_ids:
            return 0
        q = q.where(AlertDelivery.alert_id.in_(alert_ids))
    session.commit()  # the caller's writes are committed first (outbox contract)
    ids = list(session.exec(q).all())
    done = 0
    for did in ids:
        if not _claim(session, did, now):
            continue
        delivery = session.get(AlertDelivery, did)
        session.refresh(delivery)
        alert = session.get(Alert, delivery.alert_id)
        session.refresh(alert)
        update = delivery.status == "sent"
        try:
            if delivery.channel == "slack":
                _send_slack(session=session, services=services, alert=alert, delivery=delivery, update=update)
            elif delivery.channel == "email":
                _send_email(session=session, services=services, alert=alert, delivery=delivery, update=update)
            else:
                raise ValueError(f"unknown channel {delivery.channel}")
        except Exception as err:
            delivery.last_error = _error_text(err)
            if delivery.attempts >= MAX_ATTEMPTS:
                if update:
                    delivery.needs_update = False  # the original stands; give up editing it
                else:
                    delivery.status = "failed"
                delivery.next_attempt_at = None
                audit.record(session=session, actor="system:dispatch", action="alert.delivery_failed",
                             entity_type="alert", entity_id=alert.id,
                             details={"channel": delivery.channel, "attempts": delivery.attempts,
                                      "error": delivery.last_error})
            else:
                delivery.next_attempt_at = clock.now() + backoff(delivery.attempts)
            log.warning("alert delivery failed", extra={"ctx_alert": alert.id, "ctx_channel": delivery.channel,
                                                        "ctx_attempts": delivery.attempts,
                                                        "ctx_error": delivery.last_error})
            session.add(delivery)
            session.commit()
            continue
        delivery.status = "sent"
        delivery.needs_update = False
        delivery.sent_at = clock.now()
        delivery.last_error = None
        delivery.next_attempt_at = None
        delivery.attempts = 0
        session.add(delivery)
        audit.record(session=session, actor="system:dispatch",
                     action="alert.delivery_updated" if update else "alert.delivered", entity_type="alert",
                     entity_id=alert.id, details={"channel": delivery.channel, "recipient": alert.recipient_id})
        session.commit()
        done += 1
    return done
