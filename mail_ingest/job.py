"""Draining the mailbox: `run_once` (the CLI's --once, a scheduled job) and `run_forever` (IDLE loop).

Per message: record the outcome in the store (commit), then move the message out of the
inbox, then advance the mailbox's last UID. A crash between any two steps re-runs the
message; the store step finds its own row or concern and stores nothing twice.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

from sqlmodel import Session

from models import MailboxState
from triage import clock
from triage.locks import exclusive
from triage.services import Services

from .ack import send_ack
from .imap import CONNECTION_ERRORS, MailboxClient, mailbox_name
from .process import folder_for, handle_message

log = logging.getLogger(__name__)

INITIAL_BACKOFF = 0.5
# Test hook: SIGKILL this process right after the N-th message is stored, before it is moved.
KILL_AFTER_STORE_ENV = "MAIL_INGEST_KILL_AFTER_STORE"

Hook = Callable[[str, int], None]


@dataclass
class Summary:
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    auto_replies: int = 0
    resumed: int = 0  # recorded by an earlier, interrupted run; only moved this time
    acknowledged: int = 0
    reconnects: int = 0
    locked_out: bool = False

    def count(self, outcome: str) -> None:
        attr = {"stored": "stored", "duplicate": "duplicates", "quarantined": "quarantined",
                "auto_reply": "auto_replies"}[outcome]
        setattr(self, attr, getattr(self, attr) + 1)

    def as_dict(self) -> dict:
        return asdict(self)


def backoff(attempt: int, cap: float) -> float:
    return min(cap, INITIAL_BACKOFF * (2 ** max(0, attempt - 1)))


def _lock_name(services: Services) -> str:
    return f"mail:{mailbox_name(services.settings)}"


def _state(*, session: Session, mailbox: str, uidvalidity: int) -> MailboxState:
    state = session.get(MailboxState, mailbox)
    if state is None:
        state = MailboxState(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=0, updated_at=clock.now())
        session.add(state)
        session.commit()
    elif state.uidvalidity != uidvalidity:
        # The server renumbered the folder: old UIDs mean nothing now. Re-reading is safe, as
        # every message still in the inbox is either new or recognised by its row/concern.
        log.warning("UIDVALIDITY changed for the mailbox (%s -> %s): rescanning", state.uidvalidity, uidvalidity)
        state.uidvalidity, state.last_uid, state.updated_at = uidvalidity, 0, clock.now()
        session.commit()
    return state


def _kill_hook() -> Hook | None:
    n = os.environ.get(KILL_AFTER_STORE_ENV)
    if not n:
        return None
    remaining = [int(n)]

    def hook(point: str, uid: int) -> None:
        if point == "after_store":
            remaining[0] -= 1
            if remaining[0] <= 0:
                os.kill(os.getpid(), signal.SIGKILL)

    return hook


def _dispatch(services: Services) -> None:
    try:
        from triage.notify.dispatch import dispatch_pending
    except ImportError:
        return
    try:
        with Session(services.engine, expire_on_commit=False) as session:
            dispatch_pending(session=session, services=services)
    except Exception as err:  # alerts stay pending in the outbox; the dispatcher's own sweep retries
        log.warning("alert dispatch after mail batch failed: %s", err.__class__.__name__)


def drain(client: MailboxClient, services: Services, summary: Summary, *, hook: Hook | None = None,
          stop_event: threading.Event | None = None) -> Summary:
    """Process everything in the folder beyond the last UID, until a search finds nothing new."""
    settings = services.settings
    mailbox = mailbox_name(settings)
    hook = hook or _kill_hook()
    with Session(services.engine, expire_on_commit=False) as session:
        state = _state(session=session, mailbox=mailbox, uidvalidity=client.uidvalidity)
        while not (stop_event and stop_event.is_set()):
            seen = 0
            for fetched in client.fetch(state.last_uid):
                seen += 1
                summary.fetched += 1
                handled = handle_message(session=session, services=services, mailbox=mailbox, uid=fetched.uid,
                                         raw=fetched.raw)
                if handled.fresh:
                    summary.count(handled.row.outcome)
                else:
                    summary.resumed += 1
                if hook:
                    hook("after_store", fetched.uid)
                client.move(fetched.uid, folder_for(handled.row.outcome, settings))
                if hook:
                    hook("after_move", fetched.uid)
                state.last_uid = max(state.last_uid, fetched.uid)
                state.updated_at = clock.now()
                session.commit()
                if handled.fresh and send_ack(session=session, settings=settings, row=handled.row,
                                              parsed=handled.parsed, reference=handled.reference):
                    summary.acknowledged += 1
                if stop_event and stop_event.is_set():
                    break
            if seen:
                _dispatch(services)
            else:
                break
    return summary


def run_once(services: Services, *, lock: bool = True, max_reconnects: int = 5, hook: Hook | None = None,
             force_copy_delete: bool = False) -> Summary:
    """Drain the mailbox and return what happened. Reconnects (with backoff) if the server drops us."""
    summary = Summary()
    if lock:
        with exclusive(_lock_name(services), engine=services.engine) as got:
            if not got:
                summary.locked_out = True
                return summary
            return _run_once(services, summary, max_reconnects, hook, force_copy_delete)
    return _run_once(services, summary, max_reconnects, hook, force_copy_delete)


def _run_once(services, summary, max_reconnects, hook, force_copy_delete) -> Summary:
    attempt = 0
    while True:
        client = MailboxClient(services.settings, force_copy_delete=force_copy_delete)
        try:
            client.connect()
            drain(client, services, summary, hook=hook)
            return summary
        except CONNECTION_ERRORS as err:
            attempt += 1
            summary.reconnects += 1
            if attempt > max_reconnects:
                raise
            delay = backoff(attempt, services.settings.imap_max_backoff_seconds)
            log.warning("IMAP connection lost (%s); retry %d in %.1fs", err.__class__.__name__, attempt, delay)
            time.sleep(delay)
        finally:
            client.close()


def _wait_for_mail(client: MailboxClient, services: Services, stop_event: threading.Event) -> None:
    """Block until the server reports new mail, the IDLE period ends, or we are asked to stop."""
    s = services.settings
    if not client.can_idle():
        stop_event.wait(s.imap_poll_seconds)
        if not stop_event.is_set():
            client.noop()
        return
    if client.take_unannounced():
        return  # mail arrived while we were busy: drain again before idling
    client.idle_start()
    deadline = time.monotonic() + min(s.imap_idle_seconds, s.imap_idle_recheck_seconds)
    while not stop_event.is_set() and time.monotonic() < deadline:
        if client.take_unannounced():
            break
        wait = min(1.0, max(0.05, deadline - time.monotonic()))
        started = time.monotonic()
        responses = client.idle_check(timeout=wait)
        if any(len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
            break
        if any(r and r[0] == b"BYE" for r in responses):
            break  # server shutting down: DONE below fails and we reconnect
        if not responses and time.monotonic() - started < wait / 2:
            # imapclient hides EOF in idle_check (it returns nothing at once); ending IDLE
            # either raises on a dead connection or costs one harmless re-scan on a live one.
            break
    client.idle_done()  # its answer may carry a buffered EXISTS; we drain next whatever it says


def run_forever(services: Services, stop_event: threading.Event, *, lock: bool = True, hook: Hook | None = None,
                force_copy_delete: bool = False, on_drained: Callable[[Summary], None] | None = None) -> Summary:
    """Drain, then IDLE (or poll) for more, until `stop_event` is set; survives server restarts.

    With lock=True the process holds the mailbox lock for as long as it runs; a second process
    waits (polling) until the first goes away.
    """
    summary = Summary()
    if not lock:
        _loop(services, stop_event, summary, hook, force_copy_delete, on_drained)
        return summary
    while not stop_event.is_set():
        with exclusive(_lock_name(services), engine=services.engine) as got:
            if got:
                _loop(services, stop_event, summary, hook, force_copy_delete, on_drained)
                return summary
        summary.locked_out = True
        stop_event.wait(services.settings.imap_poll_seconds)
    return summary


def _loop(services, stop_event, summary, hook, force_copy_delete, on_drained) -> None:
    attempt = 0
    cap = services.settings.imap_max_backoff_seconds
    while not stop_event.is_set():
        client = MailboxClient(services.settings, force_copy_delete=force_copy_delete)
        try:
            client.connect()
            attempt = 0
            while not stop_event.is_set():
                drain(client, services, summary, hook=hook, stop_event=stop_event)
                if on_drained:
                    on_drained(summary)
                _wait_for_mail(client, services, stop_event)
        except CONNECTION_ERRORS as err:
            attempt += 1
            summary.reconnects += 1
            delay = backoff(attempt, cap)
            log.warning("IMAP connection lost (%s); reconnecting in %.1fs", err.__class__.__name__, delay)
            stop_event.wait(delay)
        except Exception as err:  # a store outage: keep the reader alive, retry later
            attempt += 1
            delay = backoff(attempt, cap)
            log.error("mail reader error (%s); retrying in %.1fs", err.__class__.__name__, delay,
                      exc_info=log.isEnabledFor(logging.DEBUG))
            stop_event.wait(delay)
        finally:
            client.close()
