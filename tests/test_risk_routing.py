"""Routing for every case, one alert per concern per recipient, grouping, storms, withdrawal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from models import Alert, AlertConcern, AlertDelivery, AuditEvent, Officer, PortfolioAssignment
from risk_helpers import build_register, make_concern, stop_schedulers, store  # noqa: F401
from triage import clock
from triage.risk.routing import route_concern
from triage.risk.service import on_concern_changed
from triage.services import Services


@pytest.fixture
def services(engine, settings_factory):
    # SMTP "configured" so email outbox rows are written (nothing is sent in these tests).
    return Services(settings=settings_factory(smtp_host="127.0.0.1", smtp_port=2, smtp_security="none",
                                              slack_bot_token="xoxb-test"), engine=engine)


@pytest.fixture
def reg(session, frozen_clock):
    build_register(session)
    return session


def concern_alerts(session, concern):
    return session.exec(select(Alert).join(AlertConcern, AlertConcern.alert_id == Alert.id)
                        .where(AlertConcern.concern_id == concern.id, Alert.kind == "concern")).all()


def recipients(session, concern):
    return sorted((a.recipient_id, a.reason) for a in concern_alerts(session, concern))


def test_portfolio_officer(reg, services):
    c, alerts = store(reg, services, locations=["A"], urgency="high")
    assert recipients(reg, c) == [("QMO1", "portfolio")]
    a = alerts[0]
    assert a.location_id == "A" and a.urgency == "high" and a.status == "open"
    chans = {d.channel: d.target for d in reg.exec(select(AlertDelivery).where(AlertDelivery.alert_id == a.id)).all()}
    assert chans == {"slack": "UQMO1", "email": "qmo1@council.example.org"}


def test_several_homes_several_officers(reg, services):
    c, _ = store(reg, services, locations=["A", "B", "C"], urgency="high")
    got = concern_alerts(reg, c)
    assert sorted(a.recipient_id for a in got) == ["QMO1", "QMO2"]  # QMO1 once for both A and B
    qmo1 = next(a for a in got if a.recipient_id == "QMO1")
    assert sorted(qmo1.details["location_ids"]) == ["A", "B"]


@pytest.mark.parametrize("locations", [[], ["U"]], ids=["no-home", "unmonitored"])
def test_unknown_or_unmonitored_goes_to_duty(reg, services, locations):
    c, _ = store(reg, services, locations=locations, urgency="high")
    assert recipients(reg, c) == [("DUTY", "duty")]


def test_home_without_officer_goes_to_duty(reg, services):
    for pa in reg.exec(select(PortfolioAssignment).where(PortfolioAssignment.location_id == "D")).all():
        pa.ended_at = clock.now()
    reg.commit()
    c, _ = store(reg, services, locations=["D"], urgency="high")
    assert recipients(reg, c) == [("DUTY", "duty")]


def test_inactive_officer_goes_to_duty(reg, services):
    reg.get(Officer, "QMO2").active = False
    reg.commit()
    c, _ = store(reg, services, locations=["D"], urgency="high")
    assert recipients(reg, c) == [("DUTY", "duty")]


def test_immediate_safeguarding_also_safeguarding_lead(reg, services):
    c, _ = store(reg, services, locations=["A"], urgency="immediate", safeguarding=["physical"])
    assert recipients(reg, c) == [("QMO1", "portfolio"), ("SGL1", "safeguarding_lead")]
    # Immediate without a safeguarding category, or safeguarding at high: no lead.
    c2, _ = store(reg, services, locations=["D"], urgency="immediate", topics=["premises_equipment"])
    assert recipients(reg, c2) == [("QMO2", "portfolio")]
    c3, _ = store(reg, services, locations=["C"], urgency="high", safeguarding=["neglect"], topics=["x"],
                  received_at=clock.now() + timedelta(hours=5))
    assert ("SGL1", "safeguarding_lead") not in recipients(reg, c3)


def test_unknown_home_immediate_safeguarding_duty_and_lead(reg, services):
    c, _ = store(reg, services, locations=[], urgency="immediate", safeguarding=["sexual"])
    assert recipients(reg, c) == [("DUTY", "duty"), ("SGL1", "safeguarding_lead")]


def test_route_is_pure_function_of_labels(reg, services):
    c = make_concern(reg, locations=["A", "U"], urgency="immediate", safeguarding=["neglect"])
    r = {x.officer_id: x for x in route_concern(session=reg, concern=c)}
    assert set(r) == {"QMO1", "DUTY", "SGL1"}
    assert r["DUTY"].location_ids == ["U"] and "not monitored" in r["DUTY"].why[0]


def test_idempotent_second_call(reg, services):
    c, first = store(reg, services, locations=["A", "C"], urgency="immediate", safeguarding=["neglect"])
    n_alerts = len(reg.exec(select(Alert)).all())
    n_deliv = len(reg.exec(select(AlertDelivery)).all())
    again = on_concern_changed(session=reg, concern=c, services=services)
    reg.commit()
    assert len(reg.exec(select(Alert)).all()) == n_alerts
    assert len(reg.exec(select(AlertDelivery)).all()) == n_deliv
    assert {a.id for a in again} >= {a.id for a in first if a.kind == "concern"}
    assert reg.exec(select(AuditEvent).where(AuditEvent.action == "alert.created")).all().__len__() == 3


def test_none_urgency_is_not_alerted(reg, services):
    c, alerts = store(reg, services, locations=["A"], urgency="none")
    assert alerts == [] and concern_alerts(reg, c) == []


def test_medium_alert_has_no_realtime_delivery(reg, services):
    c, alerts = store(reg, services, locations=["A"], urgency="medium")
    assert [a.recipient_id for a in alerts] == ["QMO1"]
    assert reg.exec(select(AlertDelivery)).all() == []  # it goes in the daily digest


def test_withdrawn_cancels_alert_and_rescores(reg, services):
    c, alerts = store(reg, services, locations=["A"], urgency="immediate", safeguarding=["neglect"])
    assert alerts[0].escalates_at is not None
    c.status = "withdrawn"
    on_concern_changed(session=reg, concern=c, services=services)
    reg.commit()
    got = concern_alerts(reg, c)
    # The concern's links stay for the record only on other alerts; its own alerts are cancelled.
    assert all(a.status == "cancelled" and a.escalates_at is None for a in reg.exec(select(Alert)).all()
               if a.kind == "concern")
    assert got == [] or all(a.status == "cancelled" for a in got)
    from triage.risk.assess import current_assessment
    assert current_assessment(session=reg, location_id="A").score == 0
    assert all(d.status == "cancelled" for d in reg.exec(select(AlertDelivery)).all()
               if reg.get(Alert, d.alert_id).kind == "concern")


def test_correction_reroutes(reg, services):
    c, _ = store(reg, services, locations=["A"], urgency="high")
    old = concern_alerts(reg, c)[0]
    from models import ConcernLocation
    reg.delete(reg.get(ConcernLocation, (c.id, "A")))
    reg.add(ConcernLocation(concern_id=c.id, location_id="D"))
    c.urgency = "immediate"
    c.labels_source = "officer"
    reg.flush()
    on_concern_changed(session=reg, concern=c, services=services)
    reg.commit()
    assert reg.get(Alert, old.id).status == "cancelled"
    assert recipients(reg, c) == [("QMO2", "portfolio")]
    assert concern_alerts(reg, c)[0].urgency == "immediate"


def test_email_and_slack_same_incident_grouped(reg, services, frozen_clock):
    c1, a1 = store(reg, services, locations=["D"], urgency="high", source="email", sender="nurse@nhs.example",
                   topics=["medication"], text="Resident given wrong medication at Damson Court last night")
    frozen_clock.advance(minutes=50)  # outside the storm window, inside the grouping window
    c2, a2 = store(reg, services, locations=["D"], urgency="immediate", source="slack", sender="Tom Ellison",
                   topics=["medication"], text="Heard Damson Court gave a resident the wrong medication overnight")
    assert len(concern_alerts(reg, c1)) == 1
    alert = concern_alerts(reg, c2)[0]
    assert alert.id == concern_alerts(reg, c1)[0].id
    assert alert.details["sources"] == ["email", "slack"]
    assert [c["reference"] for c in alert.details["concerns"]] == [c1.reference, c2.reference]
    assert alert.urgency == "immediate" and alert.details["grouped"] == "group"
    assert len(reg.exec(select(Alert).where(Alert.kind == "concern")).all()) == 1


def test_unrelated_concern_same_home_later_not_grouped(reg, services, frozen_clock):
    c1, _ = store(reg, services, locations=["D"], urgency="high", topics=["medication"], text="wrong medicines given")
    frozen_clock.advance(minutes=60)
    c2, _ = store(reg, services, locations=["D"], urgency="high", topics=["premises_equipment"],
                  text="the lift is broken and stairs blocked")
    assert concern_alerts(reg, c1)[0].id != concern_alerts(reg, c2)[0].id
    frozen_clock.advance(minutes=180)  # beyond the grouping window even with the same labels
    c3, _ = store(reg, services, locations=["D"], urgency="high", topics=["medication"], text="wrong medicines given")
    assert concern_alerts(reg, c3)[0].id not in {concern_alerts(reg, c1)[0].id, concern_alerts(reg, c2)[0].id}


def test_storm_updates_one_alert(reg, services, frozen_clock):
    first, _ = store(reg, services, locations=["C"], urgency="high", sender="s0@example.org")
    alert = concern_alerts(reg, first)[0]
    for d in reg.exec(select(AlertDelivery).where(AlertDelivery.alert_id == alert.id)).all():
        d.status = "sent"  # as if dispatched
    reg.commit()
    for i in range(1, 20):
        frozen_clock.advance(seconds=30)
        store(reg, services, locations=["C"], urgency="high" if i % 3 else "immediate", sender=f"s{i}@example.org",
              topics=[f"t{i}"], text=f"different words {i}")
    storm = reg.exec(select(Alert).where(Alert.kind == "concern", Alert.recipient_id == "QMO2")).all()
    assert len(storm) == 1
    a = storm[0]
    assert a.details["concern_count"] == 20 and a.urgency == "immediate" and a.details["grouped"] == "storm"
    delivs = reg.exec(select(AlertDelivery).where(AlertDelivery.alert_id == a.id)).all()
    assert len(delivs) == 2 and all(d.needs_update for d in delivs)  # one message per channel, edited
    # The safeguarding-free immediates add no safeguarding lead; one early warning per recipient.
    assert len(reg.exec(select(Alert).where(Alert.kind == "early_warning")).all()) == 2
