"""Escalation timing (immediate and high over working days), acknowledgement, restart, sweep."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import Alert, AlertDelivery, AuditEvent
from risk_helpers import build_register, stop_schedulers, store  # noqa: F401
from triage.risk import escalation, scheduling
from triage.risk.alerts import AlertError, acknowledge_alert, reassign_alert
from triage.risk.workingtime import add_working_days, is_working_day
from triage.services import Services

UTC = timezone.utc


@pytest.fixture
def services(engine, settings_factory):
    return Services(settings=settings_factory(smtp_host="127.0.0.1", smtp_port=2, smtp_security="none"),
                    engine=engine)


@pytest.fixture
def reg(session, frozen_clock):
    build_register(session)
    return session


def escalations(session, root_id):
    return session.exec(select(Alert).where(Alert.escalated_from_id == root_id).order_by(Alert.id)).all()


def stored_jobs(engine) -> dict[str, datetime]:
    with engine.connect() as c:
        if not sa.inspect(c).has_table("apscheduler_jobs"):
            return {}
        rows = c.execute(sa.text("select id, next_run_time from apscheduler_jobs")).all()
    return {r[0]: datetime.fromtimestamp(r[1], UTC) for r in rows}


# --- working time ---------------------------------------------------------------------------

def test_working_days_skip_weekends_and_bank_holidays(settings_factory):
    s = settings_factory()
    assert not is_working_day(date(2026, 12, 25), s)  # Christmas Day (holidays package)
    assert not is_working_day(date(2026, 12, 28), s)  # Boxing Day substitute (Monday)
    assert not is_working_day(date(2026, 11, 28), s)  # Saturday
    assert is_working_day(date(2026, 11, 23), s)
    # Monday 10:00 UTC (10:00 GMT): due Tuesday 10:00.
    assert add_working_days(datetime(2026, 11, 23, 10, tzinfo=UTC), 1, s) == datetime(2026, 11, 24, 10, tzinfo=UTC)
    # Friday 16:00: one working hour Friday, seven Monday, due Monday 16:00.
    assert add_working_days(datetime(2026, 11, 27, 16, tzinfo=UTC), 1, s) == datetime(2026, 11, 30, 16, tzinfo=UTC)
    # Saturday: the clock starts Monday 09:00.
    assert add_working_days(datetime(2026, 11, 28, 11, tzinfo=UTC), 1, s) == datetime(2026, 11, 30, 17, tzinfo=UTC)
    # Christmas Eve 15:00: 2h on the 24th, 25th-28th are off, due 29th 15:00.
    assert add_working_days(datetime(2026, 12, 24, 15, tzinfo=UTC), 1, s) == datetime(2026, 12, 29, 15, tzinfo=UTC)
    extra = settings_factory(extra_bank_holidays=[date(2026, 11, 24)])
    assert add_working_days(datetime(2026, 11, 23, 10, tzinfo=UTC), 1, extra) == datetime(2026, 11, 25, 10, tzinfo=UTC)


def test_working_hours_follow_uk_local_time(settings_factory):
    s = settings_factory()
    # In summer (BST), 09:00 local is 08:00 UTC: a Monday 07:00 UTC report is due 16:00 UTC.
    assert add_working_days(datetime(2026, 7, 6, 7, tzinfo=UTC), 1, s) == datetime(2026, 7, 6, 16, tzinfo=UTC)


# --- immediate --------------------------------------------------------------------------------

def test_immediate_escalates_to_manager_then_duty(reg, services, frozen_clock, engine):
    start = frozen_clock.now()
    c, alerts = store(reg, services, locations=["A"], urgency="immediate")
    root = alerts[0]
    assert root.escalates_at == start + timedelta(minutes=30)
    assert stored_jobs(engine)[f"escalate:{root.id}"] == start + timedelta(minutes=30)

    frozen_clock.advance(minutes=29)
    assert escalation.run_escalation(services=services, alert_id=root.id) == []  # not yet due
    frozen_clock.advance(minutes=2)
    ids = escalation.run_escalation(services=services, alert_id=root.id)
    reg.expire_all()
    esc = escalations(reg, root.id)
    assert [(a.recipient_id, a.escalation_level, a.reason, a.kind) for a in esc] == [("MGR1", 1, "manager", "escalation")]
    assert ids == [esc[0].id]
    assert esc[0].details["escalated_from_officer"] == "QMO1" and esc[0].details["unacknowledged_minutes"] == 31
    root = reg.get(Alert, root.id)
    assert root.escalation_level == 1 and root.escalates_at == frozen_clock.now() + timedelta(minutes=30)
    # Running the same job twice (two processes, a retry) escalates once.
    assert escalation.run_escalation(services=services, alert_id=root.id) == []
    assert len(escalations(reg, root.id)) == 1

    frozen_clock.advance(minutes=31)
    escalation.run_escalation(services=services, alert_id=root.id)
    reg.expire_all()
    assert [(a.recipient_id, a.escalation_level) for a in escalations(reg, root.id)] == [("MGR1", 1), ("DUTY", 2)]
    root = reg.get(Alert, root.id)
    assert root.escalation_level == 2 and root.escalates_at is None
    frozen_clock.advance(hours=5)
    assert escalation.sweep(services=services) == []  # the end of the line
    actions = [e.action for e in reg.exec(select(AuditEvent).where(AuditEvent.entity_id == str(root.id))).all()]
    assert actions.count("alert.escalated") == 2


def test_acknowledgement_stops_escalation(reg, services, frozen_clock, engine):
    c, alerts = store(reg, services, locations=["A"], urgency="immediate")
    root = alerts[0]
    frozen_clock.advance(minutes=10)
    acknowledge_alert(session=reg, alert_id=root.id, actor="QMO1", services=services)
    reg.commit()
    assert f"escalate:{root.id}" not in stored_jobs(engine)  # the timer is removed
    root = reg.get(Alert, root.id)
    assert root.status == "acknowledged" and root.acknowledged_by == "QMO1" and root.escalates_at is None
    frozen_clock.advance(hours=2)
    assert escalation.sweep(services=services) == []
    assert escalation.run_escalation(services=services, alert_id=root.id) == []
    assert escalations(reg, root.id) == []
    ev = reg.exec(select(AuditEvent).where(AuditEvent.action == "alert.acknowledged")).all()
    assert [e.actor for e in ev] == ["QMO1"]


def test_ack_of_escalation_acknowledges_chain_and_updates_messages(reg, services, frozen_clock):
    c, alerts = store(reg, services, locations=["A"], urgency="immediate")
    root = alerts[0]
    for d in reg.exec(select(AlertDelivery)).all():
        d.status = "sent"
    reg.commit()
    frozen_clock.advance(minutes=31)
    escalation.run_escalation(services=services, alert_id=root.id)
    reg.expire_all()
    esc = escalations(reg, root.id)[0]
    for d in reg.exec(select(AlertDelivery)).all():
        d.status = "sent"
    reg.commit()
    acknowledge_alert(session=reg, alert_id=esc.id, actor="MGR1", services=services)
    reg.commit()
    assert reg.get(Alert, root.id).status == "acknowledged" and reg.get(Alert, esc.id).status == "acknowledged"
    assert all(d.needs_update for d in reg.exec(select(AlertDelivery)).all())  # every recipient sees it
    frozen_clock.advance(hours=1)
    assert escalation.sweep(services=services) == []


def test_escalation_survives_scheduler_restart(reg, services, frozen_clock, engine):
    c, alerts = store(reg, services, locations=["C"], urgency="immediate")
    root = alerts[0]
    scheduling.shutdown()  # the process goes away
    assert f"escalate:{root.id}" in stored_jobs(engine)
    sched = scheduling.get_scheduler(services)  # a new process: the timer is still there
    job = sched.get_job(f"escalate:{root.id}")
    assert job is not None and job.func is escalation.escalate and job.args == (root.id,)
    assert job.next_run_time == frozen_clock.now() + timedelta(minutes=30)
    frozen_clock.advance(minutes=30)
    job.func(*job.args)  # what the scheduler runs when it fires
    reg.expire_all()
    assert [(a.recipient_id, a.escalation_level) for a in escalations(reg, root.id)] == [("MGR1", 1)]
    # The next level's timer is persisted too.
    assert stored_jobs(engine)[f"escalate:{root.id}:1"] == frozen_clock.now() + timedelta(minutes=30)


def test_sweep_catches_lost_timer(reg, services, frozen_clock, engine):
    c, alerts = store(reg, services, locations=["D"], urgency="immediate")
    scheduling.cancel(services, job_id=f"escalate:{alerts[0].id}")  # lost
    assert stored_jobs(engine) == {}
    frozen_clock.advance(minutes=45)
    created = escalation.sweep(services=services)
    assert len(created) == 1 and reg.get(Alert, created[0]).recipient_id == "MGR1"


def test_high_escalates_after_one_working_day(reg, services, frozen_clock):
    frozen_clock.set(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))  # Friday 15:00
    c, alerts = store(reg, services, locations=["A"], urgency="high")
    root = alerts[0]
    assert root.escalates_at == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday 15:00
    frozen_clock.set(datetime(2026, 11, 30, 14, 59, tzinfo=UTC))
    assert escalation.sweep(services=services) == []
    frozen_clock.set(datetime(2026, 11, 30, 15, 1, tzinfo=UTC))
    assert len(escalation.sweep(services=services)) == 1


def test_no_escalation_for_duty_and_lead_alerts(reg, services, frozen_clock):
    c, alerts = store(reg, services, locations=[], urgency="immediate", safeguarding=["physical"])
    assert {a.recipient_id: a.escalates_at for a in alerts if a.kind == "concern"} == {"DUTY": None, "SGL1": None}


def test_officer_without_manager_goes_straight_to_duty(reg, services, frozen_clock):
    from models import Officer
    reg.get(Officer, "QMO1").manager_id = None
    reg.commit()
    c, alerts = store(reg, services, locations=["A"], urgency="immediate")
    frozen_clock.advance(minutes=31)
    escalation.sweep(services=services)
    reg.expire_all()
    assert [(a.recipient_id, a.escalation_level) for a in escalations(reg, alerts[0].id)] == [("DUTY", 2)]


def test_reassign(reg, services, frozen_clock):
    c, alerts = store(reg, services, locations=["A"], urgency="immediate")
    frozen_clock.advance(minutes=20)
    new = reassign_alert(session=reg, alert_id=alerts[0].id, to_officer_id="QMO2", actor="MGR1", services=services)
    reg.commit()
    assert reg.get(Alert, alerts[0].id).status == "cancelled"
    assert new.recipient_id == "QMO2" and new.escalates_at == frozen_clock.now() + timedelta(minutes=30)
    with pytest.raises(AlertError):
        reassign_alert(session=reg, alert_id=new.id, to_officer_id="NOPE", actor="MGR1", services=services)


def test_downgrade_clears_deadline(reg, services, frozen_clock, engine):
    c, alerts = store(reg, services, locations=["A"], urgency="immediate")
    c.urgency = "medium"
    c.labels_source = "officer"
    from triage.risk.service import on_concern_changed
    on_concern_changed(session=reg, concern=c, services=services)
    reg.commit()
    assert reg.get(Alert, alerts[0].id).escalates_at is None
    assert stored_jobs(engine) == {}


def test_paused_scheduler_shutdown_keeps_due_timers(services, engine, frozen_clock, reg):
    # APScheduler 3 would run (and so delete) a due one-off job on shutdown of a paused scheduler.
    sched = scheduling.get_scheduler(services)
    sched.add_job("triage.risk.escalation:escalate", "date", run_date=datetime(2020, 1, 1, tzinfo=UTC), args=[999],
                  id="escalate:999")
    scheduling.shutdown()
    assert "escalate:999" in stored_jobs(engine)
    with Session(engine) as s:
        assert s.get(Alert, 999) is None


def test_each_step_has_its_own_timer(reg, services, frozen_clock, engine):
    c, alerts = store(reg, services, locations=["A"], urgency="immediate")
    rid = alerts[0].id
    frozen_clock.advance(minutes=31)
    escalation.sweep(services=services)  # the sweep got there before the timer
    assert set(stored_jobs(engine)) == {f"escalate:{rid}:1"}
    acknowledge_alert(session=reg, alert_id=rid, actor="MGR1", services=services)
    reg.commit()
    assert stored_jobs(engine) == {}


_START_SCHEDULER = """
import sys, time
from triage.risk import scheduling
from triage.services import Services
start_at = float(sys.argv[1])
services = Services.from_settings()
time.sleep(max(0.0, start_at - time.time()))
scheduling.get_scheduler(services)
scheduling.shutdown()
"""


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(3))
def test_processes_starting_together_share_one_timer_table(attempt, tmp_path):
    """Two `triage serve` starting at once on a fresh database once crashed on creating the table."""
    import os
    import subprocess
    import sys
    import time

    from conftest import fresh_database_url

    url = fresh_database_url("postgres", tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update(TRIAGE_DATABASE_URL=url, TRIAGE_DATA_DIR=str(tmp_path))
    start_at = str(time.time() + 3.0)
    procs = [subprocess.Popen([sys.executable, "-c", _START_SCHEDULER, start_at], env=env,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in results), "\n".join(err[-1500:] for _, err in results)
    assert sa.inspect(sa.create_engine(url)).has_table("apscheduler_jobs")
