"""Alert direct messages: sent and edited for the dispatcher (triage.notify.dispatch) and the buttons.

The dispatcher owns retries and delivery status; these functions only talk to Slack and raise
slack_sdk's SlackApiError on failure so the dispatcher can record it.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from models import Alert, AlertDelivery
from triage.config import Settings

from . import views

log = logging.getLogger(__name__)


def post_alert(*, session: Session, client, alert: Alert, delivery: AlertDelivery, settings: Settings) -> tuple[str, str]:
    """DM the officer (delivery.target is their Slack user ID); returns (DM channel, ts) for later edits."""
    text, blocks = views.alert_message(session=session, alert=alert, settings=settings)
    resp = client.chat_postMessage(channel=delivery.target, text=text, blocks=blocks, unfurl_links=False)
    log.info("alert posted", extra={"ctx_alert": alert.id, "ctx_delivery": delivery.id})
    return resp["channel"], resp["ts"]


def update_alert(*, session: Session, client, alert: Alert, delivery: AlertDelivery, settings: Settings) -> None:
    """Edit the DM already sent (acknowledged, reassigned, more concerns grouped in)."""
    if not (delivery.slack_channel and delivery.slack_ts):
        raise ValueError(f"delivery {delivery.id} has no Slack message to update")
    text, blocks = views.alert_message(session=session, alert=alert, settings=settings)
    client.chat_update(channel=delivery.slack_channel, ts=delivery.slack_ts, text=text, blocks=blocks)


def refresh_messages(*, session: Session, client, alert_ids: list[int], settings: Settings) -> int:
    """Edit every Slack DM sent for these alerts, so everyone who got one sees the new state; commits."""
    updated = 0
    for d in views.slack_deliveries(session=session, alert_ids=alert_ids):
        alert = session.get(Alert, d.alert_id)
        try:
            update_alert(session=session, client=client, alert=alert, delivery=d, settings=settings)
        except Exception as err:  # the dispatcher retries what stays flagged
            log.warning("alert update failed", extra={"ctx_alert": alert.id, "ctx_delivery": d.id,
                                                       "ctx_error": err.__class__.__name__})
            continue
        d.needs_update = False
        session.add(d)
        updated += 1
    session.commit()
    return updated
