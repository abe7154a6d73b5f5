"""Working time: weekdays and hours from settings, minus UK bank holidays (and extra ones)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from triage.config import Settings


@lru_cache(maxsize=64)
def _bank_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    try:
        cal = holidays.country_holidays(country, subdiv=subdivision or None, years=[year])
    except NotImplementedError:
        cal = holidays.country_holidays(country, years=[year])
    return frozenset(cal.keys())


def is_working_day(day: date, settings: Settings) -> bool:
    if day.weekday() not in settings.working_weekdays:
        return False
    if day in settings.extra_bank_holidays:
        return False
    return day not in _bank_holidays(settings.bank_holiday_country, settings.bank_holiday_subdivision, day.year)


def _at(day: date, t: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, t, tzinfo=tz)


def add_working_days(start: datetime, days: float, settings: Settings) -> datetime:
    """The moment `days` full working days of working hours after `start` (aware UTC in, out).

    A report at 16:00 on a Friday is due 16:00 the next working day; one at the weekend starts
    counting at the next working morning.
    """
    tz = ZoneInfo(settings.timezone)
    day_len = _at(date(2000, 1, 3), settings.working_day_end, tz) - _at(date(2000, 1, 3), settings.working_day_start, tz)
    remaining = day_len * days
    cur = start.astimezone(tz)
    for _ in range(3660):  # ten years of days: a safety stop against a calendar with no working days
        d = cur.date()
        if is_working_day(d, settings):
            ws, we = _at(d, settings.working_day_start, tz), _at(d, settings.working_day_end, tz)
            if cur < ws:
                cur = ws
            if cur < we:
                avail = we - cur
                if remaining <= avail:
                    return (cur + remaining).astimezone(timezone.utc)
                remaining -= avail
        cur = _at(d + timedelta(days=1), time(0), tz)
    raise ValueError("no working time found: check working_weekdays and bank holidays")
