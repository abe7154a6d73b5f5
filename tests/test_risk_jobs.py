"""The recurring jobs: registered once, run under a cross-process lock, owning their errors."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models import AlertDelivery
from risk_helpers import build_register, stop_schedulers, store  # noqa: F401
from triage.locks import exclusive
from triage.risk import jobs, scheduling
from triage.services import Services


@pytest.fixture
def services(engine, settings_factory):
    return Services(settings=settings_factory(smtp_host="127.0.0.1", smtp_port=2, smtp_security="none",
                                              smtp_timeout_seconds=1), engine=engine)


def test_register_jobs(services):
    sched = scheduling.get_scheduler(services)
    ids = jobs.register_jobs(sched, services)
    assert ids == ["risk.escalation_sweep", "risk.dispatch", "risk.daily_digest", "risk.weekly_summary",
                   "risk.rescore"]
    for jid in ids:
        job = sched.get_job(jid)
        assert job is not None and job.max_instances == 1 and job.coalesce
        assert sched.get_job(jid, jobstore="memory") is not None  # not pickled into the database
    digest = sched.get_job("risk.daily_digest")
    assert str(digest.trigger).startswith("cron[") and "hour='8'" in str(digest.trigger)
    jobs.register_jobs(sched, services)  # a second registration replaces, never duplicates
    assert len([j for j in sched.get_jobs() if j.id.startswith("risk.")]) == 5


def test_job_skips_when_another_process_holds_its_lock(session, services, frozen_clock):
    build_register(session)
    store(session, services, locations=["A"], urgency="high")
    with exclusive("risk.dispatch", engine=services.engine) as got:
        assert got
        jobs.dispatch_sweep(services)  # another process is dispatching: this one does nothing
    d = session.exec(select(AlertDelivery)).one()
    session.refresh(d)
    assert d.attempts == 0
    jobs.dispatch_sweep(services)  # now it runs (SMTP is down: the failure is recorded, not raised)
    session.refresh(d)
    assert d.attempts == 1 and d.last_error


def test_rescore_job_applies_decay(session, services, frozen_clock):
    from triage.risk.assess import current_assessment

    build_register(session)
    store(session, services, locations=["A"], urgency="immediate", safeguarding=["neglect"])
    frozen_clock.advance(days=56)
    jobs.rescore(services)
    session.expire_all()
    assert current_assessment(session=session, location_id="A").score == pytest.approx(10.0)
