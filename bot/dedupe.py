"""At most once per Slack event: Slack retries a delivery (X-Slack-Retry-Num) when it thinks we were
slow, and Bolt over HTTP does not de-duplicate. The event's ID goes in slack_event_seen; the
primary key makes a second claim fail, in this process or another one."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from models import SlackEventSeen
from triage import clock

# Slack retries three times within about an hour; a day is plenty.
KEEP = timedelta(days=2)
PRUNE_EVERY_SECONDS = 3600.0

_last_prune = 0.0
_prune_lock = threading.Lock()


def claim_event(*, session: Session, event_id: str) -> bool:
    """True when this is the first time the event is seen (and now it is recorded)."""
    session.add(SlackEventSeen(event_id=event_id[:64], received_at=clock.now()))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    _maybe_prune(session)
    return True


def prune(*, session: Session, older_than: timedelta = KEEP) -> int:
    result = session.exec(delete(SlackEventSeen).where(SlackEventSeen.received_at < clock.now() - older_than))
    session.commit()
    return result.rowcount or 0


def _maybe_prune(session: Session) -> None:
    global _last_prune
    with _prune_lock:
        if time.monotonic() - _last_prune < PRUNE_EVERY_SECONDS:
            return
        _last_prune = time.monotonic()
    prune(session=session)
