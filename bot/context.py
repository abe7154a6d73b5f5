"""What every listener shares: the product's services, a name cache, per-message locks, helpers."""

from __future__ import annotations

import logging
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlmodel import Session

from triage.services import Services

from .directory import Directory

log = logging.getLogger(__name__)


@dataclass
class BotContext:
    services: Services
    directory: Directory = field(default_factory=Directory)
    bot_user_id: str | None = None
    bot_id: str | None = None
    # Classification and routing run here, not on Bolt's listener pool, so a burst of posts can
    # never delay the ack() of a button press behind them.
    workers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="triage-worker"))
    # A post, its edit and its deletion can arrive close together and run on different workers;
    # one lock per message (striped) keeps them in order.
    _stripes: list[threading.Lock] = field(default_factory=lambda: [threading.Lock() for _ in range(64)])

    @property
    def settings(self):
        return self.services.settings

    @contextmanager
    def session(self):
        with Session(self.services.engine, expire_on_commit=False) as s:
            yield s

    @contextmanager
    def message_lock(self, channel: str, ts: str):
        lock = self._stripes[zlib.crc32(f"{channel}:{ts}".encode()) % len(self._stripes)]
        with lock:
            yield

    def submit(self, fn, *args, **kwargs) -> Future:
        """Run `fn` on the worker pool; a failure is logged (a future would swallow it)."""

        def run():
            try:
                return fn(*args, **kwargs)
            except Exception:
                log.exception("slack work failed", extra={"ctx_task": getattr(fn, "__name__", "?")})
                raise

        return self.workers.submit(run)

    def dispatch_pending(self) -> None:
        """Send the alert deliveries the last commit queued (the risk engineer's outbox sender)."""
        try:
            from triage.notify.dispatch import dispatch_pending
        except ImportError:
            log.debug("no alert dispatcher installed; deliveries stay queued")
            return
        try:
            with self.session() as s:
                dispatch_pending(session=s, services=self.services)
        except Exception:
            # The outbox sweep retries; a failed send must not fail the Slack interaction.
            log.exception("alert dispatch failed")
