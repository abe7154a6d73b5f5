"""Risk scoring, thresholds, decay, explanation, roll-up, sister flags and early warning."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from models import Alert, CqcRating, Location, RiskAssessment
from risk_helpers import build_register, make_concern, stop_schedulers, store  # noqa: F401
from triage.risk.assess import assess_location, current_assessment
from triage.risk.card import risk_card
from triage.risk.rollup import organisation_view
from triage.risk.scoring import decay, rating_for, score_location
from triage.risk.service import on_concern_changed, rescore_all
from triage.services import Services


@pytest.fixture
def services(engine, settings_factory):
    return Services(settings=settings_factory(database_url=str(engine.url.render_as_string(hide_password=False))),
                    engine=engine)


@pytest.fixture
def reg(session, frozen_clock):
    build_register(session)
    return session


def names(score):
    return {f.name: f.points for f in score.factors}


def test_thresholds_and_ratings(settings_factory):
    s = settings_factory()
    assert rating_for(0, s) == "green"
    assert rating_for(s.risk_amber_threshold - 0.1, s) == "green"
    assert rating_for(s.risk_amber_threshold, s) == "amber"
    assert rating_for(s.risk_red_threshold, s) == "red"
    tight = settings_factory(risk_amber_threshold=5, risk_red_threshold=10)
    assert rating_for(7, tight) == "amber"


def test_decay_halves_each_half_life():
    assert decay(0, 28) == 1.0
    assert decay(28, 28) == pytest.approx(0.5)
    assert decay(56, 28) == pytest.approx(0.25)


def test_concern_weights_and_decay_over_time(reg, services, frozen_clock):
    s = services.settings
    make_concern(reg, locations=["A"], urgency="immediate", safeguarding=["physical"])
    make_concern(reg, locations=["A"], urgency="medium")
    make_concern(reg, locations=["A"], urgency="none")
    reg.commit()
    loc = reg.get(Location, "A")
    now_score = score_location(session=reg, location=loc, settings=s)
    assert now_score.score == pytest.approx(s.risk_weight_immediate + s.risk_weight_safeguarding
                                            + s.risk_weight_medium)
    assert now_score.rating == "amber"
    assert len([f for f in now_score.factors if f.kind == "concern"]) == 2  # "none" carries no weight
    later = score_location(session=reg, location=loc, settings=s, now=frozen_clock.now() + timedelta(days=28))
    assert later.score == pytest.approx(now_score.score / 2, abs=0.1)
    assert "x0.50" in later.factors[0].why
    much_later = score_location(session=reg, location=loc, settings=s, now=frozen_clock.now() + timedelta(days=400))
    assert much_later.score == 0


def test_withdrawn_concerns_do_not_count(reg, services):
    c = make_concern(reg, locations=["A"], urgency="high", status="withdrawn")
    reg.commit()
    assert score_location(session=reg, location=reg.get(Location, "A"), settings=services.settings).score == 0
    assert c.status == "withdrawn"


def test_cqc_register_factors_each_explained(reg, services, frozen_clock):
    s = services.settings
    loc = reg.get(Location, "D")
    for r in reg.exec(select(CqcRating).where(CqcRating.location_id == "D")).all():
        if r.key_question in ("overall", "well-led"):
            r.rating = "Inadequate"
        if r.key_question == "safe":
            r.rating = "Requires improvement"
    loc.registered_manager = "vacant"
    loc.manager_changed_on = date(2026, 9, 1)
    loc.contract_status = "suspended"
    loc.beds, loc.council_funded_residents = 40, 30
    loc.financial_risk = "high"
    loc.last_qa_visit = date(2025, 1, 5)
    reg.commit()
    sc = score_location(session=reg, location=loc, settings=s)
    f = names(sc)
    assert f["CQC overall Inadequate"] == s.risk_weight_cqc_inadequate_overall
    assert f["CQC well-led Inadequate"] == s.risk_weight_cqc_inadequate_key_question
    assert f["CQC safe Requires improvement"] == s.risk_weight_cqc_requires_improvement_key_question
    assert f["registered manager vacant"] == s.risk_weight_manager_vacant
    assert "registered manager changed recently" not in f  # vacancy already says it
    assert f["contract suspended"] == s.risk_weight_contract_suspended
    assert f["council-funded share high"] == s.risk_weight_council_funded_high
    assert f["financial risk high"] == s.risk_weight_financial_high
    assert f["QA visit overdue"] == s.risk_weight_qa_visit_overdue
    assert sc.score == pytest.approx(sum(f.values()))
    assert sc.rating == "red"
    assert all(x.why for x in sc.factors)
    assert "30 of 40 beds" in next(x.why for x in sc.factors if x.kind == "funding")
    # Below the funding threshold and a manager who changed long ago: no points.
    loc.council_funded_residents = 23
    loc.registered_manager, loc.manager_changed_on = "in_post", date(2025, 1, 1)
    reg.commit()
    f2 = names(score_location(session=reg, location=loc, settings=s))
    assert "council-funded share high" not in f2 and "registered manager changed recently" not in f2
    loc.manager_changed_on = date(2026, 10, 1)
    reg.commit()
    assert "registered manager changed recently" in names(score_location(session=reg, location=loc, settings=s))


def test_unrated_home_gets_some_weight(reg, services):
    for r in reg.exec(select(CqcRating).where(CqcRating.location_id == "C")).all():
        reg.delete(r)
    reg.commit()
    sc = score_location(session=reg, location=reg.get(Location, "C"), settings=services.settings)
    assert names(sc) == {"CQC not yet rated": services.settings.risk_weight_cqc_unrated}


def test_assessment_history_written_only_on_change(reg, services, frozen_clock):
    c, _ = store(reg, services, locations=["A"], urgency="high")
    rows = reg.exec(select(RiskAssessment).where(RiskAssessment.location_id == "A")).all()
    assert len(rows) == 1 and rows[0].reason.startswith(f"concern {c.reference} received")
    on_concern_changed(session=reg, concern=c, services=services)  # nothing changed
    reg.commit()
    assert len(reg.exec(select(RiskAssessment).where(RiskAssessment.location_id == "A")).all()) == 1
    frozen_clock.advance(days=28)
    rescore_all(session=reg, services=services)
    reg.commit()
    cur = current_assessment(session=reg, location_id="A")
    assert cur.score == pytest.approx(7.5) and cur.reason == "periodic rescore (decay)"
    assert len(reg.exec(select(RiskAssessment).where(RiskAssessment.location_id == "A",
                                                     RiskAssessment.current == True)).all()) == 1  # noqa: E712


def test_rating_change_recorded_with_reason(reg, services):
    store(reg, services, locations=["A"], urgency="immediate", safeguarding=["physical"])
    c2, _ = store(reg, services, locations=["A"], urgency="high", sender="other@example.org")
    cur = current_assessment(session=reg, location_id="A")
    assert (cur.previous_rating, cur.rating) == ("amber", "red")
    assert c2.reference in cur.reason


def test_correction_moves_points_between_homes(reg, services):
    c, _ = store(reg, services, locations=["A"], urgency="high")
    from models import ConcernLocation
    reg.delete(reg.get(ConcernLocation, (c.id, "A")))
    reg.add(ConcernLocation(concern_id=c.id, location_id="D"))
    c.labels_source = "officer"
    reg.flush()
    on_concern_changed(session=reg, concern=c, services=services)
    reg.commit()
    assert current_assessment(session=reg, location_id="A").score == 0
    assert current_assessment(session=reg, location_id="D").score == services.settings.risk_weight_high


def test_rollup_and_sister_flag(reg, services):
    store(reg, services, locations=["A"], urgency="immediate", safeguarding=["neglect"])
    store(reg, services, locations=["A"], urgency="high", sender="b@example.org")
    assert current_assessment(session=reg, location_id="A").rating == "red"
    view = organisation_view(session=reg, settings=services.settings, provider_id="P1")
    assert view["locations"] == 3 and view["worst_rating"] == "red" and view["red"] == 1
    # Sister homes B and C carry the flag (on the card), D (another provider) does not.
    card_b = risk_card(session=reg, location_id="B", settings=services.settings)
    assert [f["location_id"] for f in card_b["flags"]] == ["A"]
    assert card_b["score"] == 0  # a flag, not points: one red home must not cascade
    assert risk_card(session=reg, location_id="D", settings=services.settings)["flags"] == []
    flags = reg.exec(select(Alert).where(Alert.kind == "sister_flag")).all()
    assert {(a.recipient_id, a.location_id) for a in flags} == {("QMO1", "B"), ("QMO2", "C")}
    # A further concern at A while red raises no second sister alert.
    store(reg, services, locations=["A"], urgency="high", sender="c@example.org")
    assert len(reg.exec(select(Alert).where(Alert.kind == "sister_flag")).all()) == 2


def _ew(session):
    return session.exec(select(Alert).where(Alert.kind == "early_warning")).all()


def test_early_warning_needs_count_and_distinct_sources(reg, services, frozen_clock):
    for _ in range(3):
        store(reg, services, locations=["D"], urgency="medium", sender="same@example.org")
        frozen_clock.advance(days=2)
    assert _ew(reg) == []  # three concerns but one source
    store(reg, services, locations=["D"], urgency="low", source="slack", sender="Tom Ellison")
    ew = _ew(reg)
    assert {a.recipient_id for a in ew} == {"QMO2", "MGR1"}  # officer and their manager
    assert all(a.details["rating"] == "green" for a in ew)  # before it is anywhere near red
    assert "4 concerns in 14 days from 2 different sources" in ew[0].details["reasons"][0]
    store(reg, services, locations=["D"], urgency="low", source="slack", sender="Someone Else")
    assert len(_ew(reg)) == 2  # updated, not repeated


def test_early_warning_old_concerns_outside_window(reg, services, frozen_clock):
    store(reg, services, locations=["D"], urgency="medium", sender="a@example.org")
    store(reg, services, locations=["D"], urgency="medium", sender="b@example.org")
    frozen_clock.advance(days=15)
    store(reg, services, locations=["D"], urgency="medium", sender="c@example.org")
    assert _ew(reg) == []


def test_early_warning_on_score_jump(reg, services, frozen_clock):
    store(reg, services, locations=["D"], urgency="medium", sender="a@example.org")
    assert _ew(reg) == []
    frozen_clock.advance(days=1)
    store(reg, services, locations=["D"], urgency="high", sender="a@example.org",
          safeguarding=["neglect"])
    ew = _ew(reg)
    assert ew and "score rose" in ew[0].details["reasons"][0]


def test_first_assessment_is_not_a_jump(reg, services):
    loc = reg.get(Location, "D")
    loc.contract_status = "suspended"
    for r in reg.exec(select(CqcRating).where(CqcRating.location_id == "D", CqcRating.key_question == "overall")).all():
        r.rating = "Inadequate"
    reg.commit()
    out = rescore_all(session=reg, services=services, reason="register import")
    reg.commit()
    assert any(a.written is not None and a.written.rating == "red" for a in out)
    assert _ew(reg) == []
    a = assess_location(session=reg, location_id="D", settings=services.settings, reason="again")
    assert a.written is None


def test_first_red_assessment_flags_sisters_without_messages(reg, services):
    for r in reg.exec(select(CqcRating).where(CqcRating.location_id == "A")).all():
        if r.key_question in ("overall", "safe"):
            r.rating = "Inadequate"
    reg.commit()
    rescore_all(session=reg, services=services, reason="register import")
    reg.commit()
    assert current_assessment(session=reg, location_id="A").rating == "red"
    assert [f["location_id"] for f in risk_card(session=reg, location_id="C", settings=services.settings)["flags"]] \
        == ["A"]
    assert reg.exec(select(Alert).where(Alert.kind == "sister_flag")).all() == []
