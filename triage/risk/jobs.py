"""Recurring risk jobs for `triage serve`: escalation sweep, outbox dispatch, digests, rescore.

Each job owns its session and its errors, runs one at a time, and takes a cross-process lock
so that with several `triage serve` processes on one PostgreSQL it runs on exactly one.
They live in the in-memory job store (every serve process registers them; the lock picks one).
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from triage.locks import exclusive
from triage.services import Services

log = logging.getLogger(__name__)

RESCORE_HOURS = 6
SWEEP_SECONDS = 60


def _guarded(name: str, services: Services, work) -> None:
    try:
        with exclusive(name, engine=services.engine) as got:
            if not got:
                return
            work()
    except Exception:
        log.exception("job %s failed", name)


def escalation_sweep(services: Services) -> None:
    from .escalation import sweep

    _guarded("risk.escalation_sweep", services, lambda: sweep(services=services))


def dispatch_sweep(services: Services) -> None:
    from triage.notify.dispatch import dispatch_pending

    def work():
        with Session(services.engine, expire_on_commit=False) as session:
            dispatch_pending(session=session, services=services)

    _guarded("risk.dispatch", services, work)


def daily_digest(services: Services) -> None:
    from .digests import send_daily_digests

    def work():
        with Session(services.engine, expire_on_commit=False) as session:
            send_daily_digests(session=session, services=services)

    _guarded("risk.daily_digest", services, work)


def weekly_summary(services: Services) -> None:
    from .digests import send_weekly_summaries

    def work():
        with Session(services.engine, expire_on_commit=False) as session:
            send_weekly_summaries(session=session, services=services)

    _guarded("risk.weekly_summary", services, work)


def rescore(services: Services) -> None:
    from .service import rescore_all

    def work():
        with Session(services.engine, expire_on_commit=False) as session:
            rescore_all(session=session, services=services)
            session.commit()
        with Session(services.engine, expire_on_commit=False) as session:
            from triage.notify.dispatch import dispatch_pending

            dispatch_pending(session=session, services=services)

    _guarded("risk.rescore", services, work)


def register_jobs(scheduler, services: Services) -> list[str]:
    """Add the recurring jobs; returns their IDs. Call `triage.risk.scheduling.run_jobs` to run them."""
    s = services.settings
    common = dict(jobstore="memory", replace_existing=True, max_instances=1, coalesce=True, args=[services])
    tz = s.timezone
    scheduler.add_job(escalation_sweep, "interval", seconds=SWEEP_SECONDS, id="risk.escalation_sweep", **common)
    scheduler.add_job(dispatch_sweep, "interval", seconds=s.alert_dispatch_seconds, id="risk.dispatch", **common)
    scheduler.add_job(daily_digest, "cron", hour=s.digest_time.hour, minute=s.digest_time.minute, timezone=tz,
                      id="risk.daily_digest", **common)
    scheduler.add_job(weekly_summary, "cron", day_of_week=s.weekly_summary_weekday, hour=s.digest_time.hour,
                      minute=s.digest_time.minute, timezone=tz, id="risk.weekly_summary", **common)
    scheduler.add_job(rescore, "interval", hours=RESCORE_HOURS, id="risk.rescore", **common)
    return ["risk.escalation_sweep", "risk.dispatch", "risk.daily_digest", "risk.weekly_summary", "risk.rescore"]
