"""The product's sense of time, replaceable in tests.

Everything that compares against "now" (risk decay, escalation deadlines, digests) asks
this module, so a test can freeze and advance time instead of sleeping.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs) -> datetime:
        with self._lock:
            self._now += delta if delta is not None else timedelta(**kwargs)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when if when.tzinfo else when.replace(tzinfo=timezone.utc)


_clock: SystemClock | FrozenClock = SystemClock()


def now() -> datetime:
    """Timezone-aware UTC now."""
    return _clock.now()


def set_clock(clock: SystemClock | FrozenClock) -> None:
    global _clock
    _clock = clock


def reset_clock() -> None:
    set_clock(SystemClock())
