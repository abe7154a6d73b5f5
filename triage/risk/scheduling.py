"""The process-wide APScheduler: one-off escalation timers persist in the database.

Timers live in a SQLAlchemyJobStore (table apscheduler_jobs, created on first start) in the
product's own database, so a restart or a second process loses none. Processes that only
add timers (CLI, Slack handlers) start the scheduler paused: jobs are persisted but never
run there. `triage serve` resumes it and registers the recurring jobs (`triage.risk.jobs`).
Alert.escalates_at stays the source of truth; the sweep job catches anything a lost timer missed.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

import sqlalchemy as sa
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from triage.services import Services

log = logging.getLogger(__name__)

_lock = threading.Lock()
_schedulers: dict[str, "Scheduler"] = {}
_services: dict[str, Services] = {}
_last_url: list[str] = []


class Scheduler(BackgroundScheduler):
    def _process_jobs(self):
        # APScheduler 3 runs one pass of due jobs after shutdown() (and while paused, on wake-up),
        # submitting to a closed executor and then deleting the one-off job: a lost timer.
        if self.state != STATE_RUNNING:
            return None
        return super()._process_jobs()


def _key(services: Services) -> str:
    return str(services.engine.url)


def get_scheduler(services: Services, *, paused: bool = True) -> Scheduler:
    """The scheduler for this process and database, started (paused unless told otherwise)."""
    key = _key(services)
    with _lock:
        sched = _schedulers.get(key)
        if sched is None:
            store = SQLAlchemyJobStore(engine=services.engine)
            _ensure_jobs_table(store)
            sched = Scheduler(
                jobstores={"default": store, "memory": MemoryJobStore()},
                executors={"default": ThreadPoolExecutor(4)},
                # misfire_grace_time None: a timer due while every process was down still runs.
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
                timezone="UTC",
            )
            sched.start(paused=paused)
            _schedulers[key] = sched
        _services[key] = services
        if key in _last_url:
            _last_url.remove(key)
        _last_url.append(key)
        return sched


def _ensure_jobs_table(store: SQLAlchemyJobStore) -> None:
    """Create the timers' table, tolerating another process creating it at the same moment.

    The job store checks and then creates in two steps, so two `triage serve` processes
    starting together on a fresh database race, and the loser used to crash at start-up.
    """
    try:
        store.jobs_t.create(store.engine, checkfirst=True)
    except sa.exc.DBAPIError:
        if not sa.inspect(store.engine).has_table(store.jobs_t.name, schema=store.jobs_t.schema):
            raise


def run_jobs(services: Services) -> Scheduler:
    """Let this process run due jobs (called by `triage serve`)."""
    sched = get_scheduler(services)
    sched.resume()
    return sched


def shutdown(services: Services | None = None) -> None:
    with _lock:
        keys = [_key(services)] if services is not None else list(_schedulers)
        for key in keys:
            sched = _schedulers.pop(key, None)
            _services.pop(key, None)
            if key in _last_url:
                _last_url.remove(key)
            if sched is not None:
                try:
                    sched.shutdown(wait=False)
                except Exception:  # pragma: no cover - already stopped
                    pass


def process_services() -> Services:
    """The Services a scheduled job should use: the scheduler's, else built from settings."""
    with _lock:
        if _last_url:
            return _services[_last_url[-1]]
    return Services.from_settings()


def schedule_once(services: Services, *, job_id: str, func: str, run_at: datetime, args: list) -> None:
    try:
        get_scheduler(services).add_job(func, "date", run_date=run_at, args=args, id=job_id,
                                        replace_existing=True, jobstore="default")
    except Exception as err:  # the sweep job still catches it from Alert.escalates_at
        log.warning("could not persist timer %s: %s", job_id, err.__class__.__name__)


def cancel(services: Services, *, job_id: str) -> None:
    try:
        get_scheduler(services).remove_job(job_id, jobstore="default")
    except JobLookupError:
        pass
    except Exception as err:  # pragma: no cover
        log.warning("could not remove timer %s: %s", job_id, err.__class__.__name__)


def after_commit(session, services: Services, fn) -> None:
    """Run fn() once the session's transaction commits (never on rollback).

    SQLite allows one writer: touching the job store while the caller's transaction is open
    would wait on ourselves. And a timer for an alert that was rolled back must not exist.
    """
    pending = session.info.get("risk_after_commit")
    if pending is None:
        pending = session.info["risk_after_commit"] = []

        def _run(sess):
            todo = list(sess.info.get("risk_after_commit") or [])
            sess.info["risk_after_commit"] = []
            for f in todo:
                try:
                    f()
                except Exception as err:  # pragma: no cover
                    log.warning("after-commit task failed: %s", err.__class__.__name__)

        def _drop(sess, previous_transaction=None):
            sess.info["risk_after_commit"] = []

        sa.event.listen(session, "after_commit", _run)
        sa.event.listen(session, "after_rollback", _drop)
    pending.append(fn)
