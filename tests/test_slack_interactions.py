"""Buttons, modals, slash commands, App Home and alert DMs through the real Bolt app on loopback."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models import Alert, AlertDelivery, AuditEvent, Concern, ConcernLocation, LabelledExample
from slack_stub import (PARTNER_USER, SHARED_CHANNEL, TEAM_CHANNEL, multi, single, start_bot_env, text_input)

BRUISE = ("Morning all - visited Brookvale Lodge yesterday. A resident had fresh bruising on both forearms "
          "and told me a carer grabbed her roughly during personal care. Staff could not explain it.")
BROOKVALE_LODGE = "1-4828366741"
MEADOW_VIEW = "1-1268905913"


@pytest.fixture
def env(trained_classifier, sqlite_url, settings_factory, shared_register):
    e = start_bot_env(database_url=sqlite_url, settings_factory=settings_factory, register_dir=shared_register,
                      classifier=trained_classifier)
    yield e
    e.close()


@pytest.fixture
def env_any_db(trained_classifier, db_url, settings_factory, shared_register):
    e = start_bot_env(database_url=db_url, settings_factory=settings_factory, register_dir=shared_register,
                      classifier=trained_classifier)
    yield e
    e.close()


def intake(env, text: str = BRUISE) -> Concern:
    ev = env.driver.message(SHARED_CHANNEL, PARTNER_USER, text)
    assert env.driver.event(ev).status == 200

    def ready():
        with env.session() as s:
            c = s.exec(select(Concern).where(Concern.slack_ts == ev["ts"])).first()
            return c if c is not None and c.slack_reply_ts else None

    return env.wait_until(ready, what="concern with its thread reply")


def audits(env, action: str) -> list[AuditEvent]:
    with env.session() as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all())


def get(env, model, key):
    with env.session() as s:
        return s.get(model, key)


def home_ids(env, concern_id: int) -> list[str]:
    with env.session() as s:
        return sorted(s.exec(select(ConcernLocation.location_id).where(ConcernLocation.concern_id == concern_id)).all())


def values_of(view: dict) -> dict:
    """What an officer who changes nothing would submit: the modal's initial values."""
    out: dict = {}
    for b in view["blocks"]:
        if b["type"] != "input":
            continue
        el = b["element"]
        if "initial_options" in el or el["type"].startswith("multi_"):
            out[b["block_id"]] = {el["action_id"]: {"type": el["type"], "selected_options": el.get("initial_options", [])}}
        elif el["type"] == "static_select":
            out[b["block_id"]] = {el["action_id"]: {"type": el["type"], "selected_option": el.get("initial_option")}}
    return out


# --- Correct tags ------------------------------------------------------------------------------------

def test_correct_tags_modal_is_prefilled_and_a_submission_changes_labels_and_audit(env_any_db):
    env = env_any_db
    c = intake(env)
    officer = env.officer_user("QMO1")
    assert env.driver.block_action(officer, "correct_tags", str(c.id), channel=SHARED_CHANNEL,
                                   message_ts=c.slack_reply_ts).status == 200
    opened = env.stub.wait_for("views.open")[0]
    view = opened["view"]
    assert opened["trigger_id"].startswith("trig.")
    assert view["callback_id"] == "correction_modal"
    # Pre-filled with the prediction.
    initial = values_of(view)
    sel = lambda b: sorted(o["value"] for o in next(iter(initial[b].values()))["selected_options"])  # noqa: E731
    assert sel("homes") == home_ids(env, c.id)
    assert sel("domains") == sorted(c.domains) and sel("topics") == sorted(c.topics)
    assert sel("safeguarding") == sorted(c.safeguarding)
    assert next(iter(initial["urgency"].values()))["selected_option"]["value"] == c.urgency
    assert [e.entity_id for e in audits(env, "concern.viewed")] == [str(c.id)]

    values = {**multi("homes", "homes_select", [MEADOW_VIEW], "multi_external_select"),
              **multi("domains", "domains", ["caring", "well-led"]),
              **multi("topics", "topics", ["staffing", "dignity_respect"]),
              **multi("safeguarding", "safeguarding", ["neglect"]),
              **single("urgency", "urgency", "medium")}
    r = env.driver.view_submission(officer, view, values)
    assert r.status == 200 and not r.body  # empty ack closes the modal

    env.wait_until(lambda: audits(env, "concern.corrected"), what="correction audited")
    after = get(env, Concern, c.id)
    assert (after.domains, after.topics, after.safeguarding, after.urgency) == (
        ["caring", "well-led"], ["dignity_respect", "staffing"], ["neglect"], "medium")
    assert home_ids(env, c.id) == [MEADOW_VIEW]
    assert (after.labels_source, after.corrected_by) == ("officer", "QMO1")
    [a] = audits(env, "concern.corrected")
    assert a.actor == "QMO1"
    assert a.details["old"]["urgency"] == c.urgency and a.details["new"]["urgency"] == "medium"
    assert a.details["new"]["providers"] == [MEADOW_VIEW]
    with env.session() as s:
        [ex] = s.exec(select(LabelledExample)).all()
    assert ex.concern_id == c.id and ex.labelled_by == "QMO1" and ex.labels["topics"] == ["dignity_respect", "staffing"]
    assert ex.text == c.clean_text
    # The thread reply now shows the officer's tags.
    upd = env.stub.wait_for("chat.update", lambda call: call.get("ts") == c.slack_reply_ts)[-1]
    shown = upd.text_of_blocks()
    assert "Meadow View" in shown and "Caring" in shown and "Medium" in shown and "Brookvale Lodge" not in shown


def test_partner_cannot_correct_or_dismiss(env):
    c = intake(env)
    env.driver.block_action(PARTNER_USER, "correct_tags", str(c.id), channel=SHARED_CHANNEL, message_ts=c.slack_reply_ts)
    env.driver.block_action(PARTNER_USER, "not_concern", str(c.id), channel=SHARED_CHANNEL, message_ts=c.slack_reply_ts)
    eph = env.stub.wait_for("chat.postEphemeral", count=2)
    assert all(e["user"] == PARTNER_USER and "officers" in e["text"] for e in eph)
    env.server.shutdown()
    assert env.stub.calls_to("views.open") == []
    assert get(env, Concern, c.id).status == "open"
    with env.session() as s:
        assert s.exec(select(LabelledExample)).all() == []


def test_not_a_concern(env):
    c = intake(env)
    officer = env.officer_user("QMO1")
    assert env.driver.block_action(officer, "not_concern", str(c.id), channel=SHARED_CHANNEL,
                                   message_ts=c.slack_reply_ts).status == 200
    upd = env.stub.wait_for("chat.update", lambda call: call.get("ts") == c.slack_reply_ts)[-1]
    after = get(env, Concern, c.id)
    assert after.status == "not_concern" and after.urgency == "none" and after.domains == []
    [a] = audits(env, "concern.not_concern")
    assert a.actor == "QMO1" and a.details["status"] == {"old": "open", "new": "not_concern"}
    with env.session() as s:
        [ex] = s.exec(select(LabelledExample)).all()
    assert ex.labels["urgency"] == "none" and ex.labels["domains"] == []
    actions = [el["action_id"] for b in upd["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert actions == ["correct_tags"]  # can still be corrected back; no second "not a concern"


def test_home_select_loads_options_from_the_register(env):
    officer = env.officer_user("QMO1")
    r = env.driver.block_suggestion(officer, "homes_select", "brookvale")
    assert r.status == 200
    options = r.json()["options"]
    names = [o["text"]["text"] for o in options]
    assert any(n.startswith("Brookvale Lodge") for n in names)
    assert all("brookvale" in n.lower() for n in names)
    assert BROOKVALE_LODGE in [o["value"] for o in options]


# --- /concern -----------------------------------------------------------------------------------------

def test_concern_command_opens_a_modal_and_logs_a_manual_concern(env):
    officer = env.officer_user("QMO2")
    assert env.driver.command("/concern", officer).status == 200
    view = env.stub.wait_for("views.open")[0]["view"]
    assert view["callback_id"] == "concern_modal"

    short = env.driver.view_submission(officer, view, text_input("text", "text", "bad"))
    assert short.status == 200 and short.json()["response_action"] == "errors"

    text = "Phone call from a relative: night staff at the home were asleep and call bells went unanswered."
    values = {**text_input("text", "text", text),
              **single("home", "home_select", BROOKVALE_LODGE, "external_select")}
    assert env.driver.view_submission(officer, view, values).status == 200
    dm = env.stub.wait_for("chat.postMessage", lambda c: c.get("channel") == officer)[0]

    def stored():
        with env.session() as s:
            return s.exec(select(Concern).where(Concern.source == "manual")).first()

    c = env.wait_until(lambda: (stored() if stored() and stored().slack_reply_ts else None), what="manual concern")
    assert c.raw_text == text and c.sender == "Tom Ellison"
    assert BROOKVALE_LODGE in home_ids(env, c.id)  # the officer's choice counts even if the model missed it
    assert c.reference in dm.text_of_blocks()
    assert c.slack_channel == env.stub.dm_channel(officer)
    assert [e.actor for e in audits(env, "concern.created")] == ["QMO2"]


# --- /risk --------------------------------------------------------------------------------------------

def test_risk_command_shows_the_card_to_the_caller_only(env):
    intake(env)
    officer = env.officer_user("QMO2")
    assert env.driver.command("/risk", officer, "Brookvale Lodge").status == 200
    eph = env.stub.wait_for("chat.postEphemeral")[0]
    assert (eph["user"], eph["channel"]) == (officer, TEAM_CHANNEL)
    shown = eph.text_of_blocks()
    assert "Brookvale Lodge" in shown and BROOKVALE_LODGE in shown
    assert "CQC ratings" in shown and "Overall" in shown
    assert "Priya Sharma" in shown  # the portfolio officer
    assert "CC-" in shown  # the recent concern
    [a] = audits(env, "location.viewed")
    assert (a.actor, a.entity_id) == ("QMO2", BROOKVALE_LODGE)

    env.driver.command("/risk", officer, "Brookvale")
    many = env.stub.wait_for("chat.postEphemeral", count=2)[1]
    assert "Several homes match" in many.text_of_blocks() and "Brookvale House" in many.text_of_blocks()

    env.driver.command("/risk", PARTNER_USER, "Brookvale Lodge")
    refused = env.stub.wait_for("chat.postEphemeral", count=3)[2]
    assert refused["user"] == PARTNER_USER and "officers" in refused["text"]
    env.server.shutdown()
    assert len(audits(env, "location.viewed")) == 1


# --- App Home ---------------------------------------------------------------------------------------

def test_app_home_lists_open_concerns_and_portfolio_ratings(env):
    c = intake(env)
    officer = env.officer_user("QMO1")
    env.driver.event({"type": "app_home_opened", "user": officer, "channel": "D0HOME", "tab": "home"})
    pub = env.stub.wait_for("views.publish")[0]
    assert pub["user_id"] == officer and pub["view"]["type"] == "home"
    shown = pub.text_of_blocks()
    assert c.reference in shown and "Brookvale Lodge" in shown
    assert "Your portfolio" in shown and "CQC" in shown
    [a] = audits(env, "app_home.viewed")
    assert a.actor == "QMO1" and c.id in a.details["concerns"]

    # Someone the register does not know gets an explanation, and nothing is audited for them.
    env.driver.event({"type": "app_home_opened", "user": PARTNER_USER, "channel": "D0HOME2", "tab": "home"})
    other = env.stub.wait_for("views.publish", count=2)[1]
    assert "not linked" in other.text_of_blocks() and c.reference not in other.text_of_blocks()
    assert len(audits(env, "app_home.viewed")) == 1


# --- alerts: DM, Acknowledge, Reassign -------------------------------------------------------------------

def alert_dm(env, officer_user: str):
    dm = env.stub.dm_channel(officer_user)
    return env.stub.wait_for("chat.postMessage", lambda c: c.get("channel") == officer_user)[0], dm


def realtime_alert(env) -> tuple[Concern, Alert]:
    """An officer-corrected immediate safeguarding concern about Brookvale Lodge (QMO1's home)."""
    c = intake(env)
    officer = env.officer_user("QMO1")
    env.driver.block_action(officer, "correct_tags", str(c.id), channel=SHARED_CHANNEL, message_ts=c.slack_reply_ts)
    view = env.stub.wait_for("views.open")[0]["view"]
    env.driver.view_submission(officer, view, {
        **multi("homes", "homes_select", [BROOKVALE_LODGE], "multi_external_select"),
        **multi("domains", "domains", ["safe"]), **multi("topics", "topics", []),
        **multi("safeguarding", "safeguarding", ["physical"]), **single("urgency", "urgency", "immediate")})

    def sent():
        with env.session() as s:
            return s.exec(select(Alert).join(AlertDelivery, AlertDelivery.alert_id == Alert.id)
                          .where(Alert.recipient_id == "QMO1", AlertDelivery.status == "sent",
                                 AlertDelivery.channel == "slack")).first()

    return c, env.wait_until(sent, what="alert DM sent to QMO1")


def test_alert_dm_acknowledge_updates_every_copy(env):
    c, alert = realtime_alert(env)
    officer = env.officer_user("QMO1")
    msg, dm = alert_dm(env, officer)
    shown = msg.text_of_blocks()
    assert "Brookvale Lodge" in shown and c.reference in shown and "Physical" in shown
    assert "Risk rating" in shown
    buttons = {el["action_id"]: el for b in msg["blocks"] if b["type"] == "actions" for el in b["elements"]}
    assert set(buttons) == {"alert_ack", "alert_reassign", "alert_open"}
    assert buttons["alert_open"]["url"] == f"https://triage.example.org/concerns/{c.id}"
    with env.session() as s:
        deliveries = s.exec(select(AlertDelivery).where(AlertDelivery.channel == "slack",
                                                        AlertDelivery.alert_id == alert.id)).all()
    assert [(d.slack_channel, d.target) for d in deliveries] == [(dm, officer)]

    # Nobody acknowledged in time: the risk module escalates to QMO1's manager, who gets a DM too.
    from datetime import timedelta

    from triage.notify.dispatch import dispatch_pending
    from triage.risk.escalation import escalate_alert

    with env.session() as s:
        root = s.get(Alert, alert.id)
        assert root.escalates_at is not None
        [esc] = escalate_alert(session=s, alert_id=alert.id, services=env.services,
                               now=root.escalates_at + timedelta(minutes=1))
        s.commit()
        dispatch_pending(session=s, services=env.services)
    manager = env.officer_user("MGR1")
    env.stub.wait_for("chat.postMessage", lambda m: m.get("channel") == manager)
    manager_dm = env.stub.dm_channel(manager)

    assert env.driver.block_action(officer, "alert_ack", str(alert.id), channel=dm,
                                   message_ts=deliveries[0].slack_ts).status == 200
    env.wait_until(lambda: get(env, Alert, alert.id).status == "acknowledged", what="acknowledged")
    assert get(env, Alert, alert.id).acknowledged_by == "QMO1"
    # Every DM sent for this alert is edited to show who acknowledged, without the buttons.
    upd = env.stub.wait_for("chat.update", lambda u: u.get("channel") == dm and "Acknowledged by" in u.text_of_blocks())[-1]
    assert officer in upd.text_of_blocks()
    actions = [el["action_id"] for b in upd["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert actions == ["alert_open"]
    # ...and the manager's copy says so too, so they do not act on it twice.
    mgr = env.stub.wait_for("chat.update", lambda u: u.get("channel") == manager_dm
                            and "Acknowledged by" in u.text_of_blocks())[-1]
    assert officer in mgr.text_of_blocks()
    assert get(env, Alert, esc.id).status == "acknowledged"
    assert audits(env, "alert.acknowledged")[0].actor == "QMO1"
    # The Open link button still sends a payload; it is acknowledged, not a 404.
    assert env.driver.block_action(officer, "alert_open", str(alert.id), channel=dm).status == 200


def test_alert_reassign(env):
    c, alert = realtime_alert(env)
    officer = env.officer_user("QMO1")
    _, dm = alert_dm(env, officer)
    env.driver.block_action(officer, "alert_reassign", str(alert.id), channel=dm)
    view = env.stub.wait_for("views.open", lambda v: v["view"]["callback_id"] == "reassign_modal")[0]["view"]
    choices = [o["value"] for o in view["blocks"][0]["element"]["options"]]
    assert "QMO2" in choices and "QMO1" not in choices
    assert env.driver.view_submission(officer, view, single("officer", "officer", "QMO2")).status == 200

    qmo2 = env.officer_user("QMO2")
    new_dm = env.stub.wait_for("chat.postMessage", lambda m: m.get("channel") == qmo2)[0]
    assert c.reference in new_dm.text_of_blocks()
    assert get(env, Alert, alert.id).status == "cancelled"
    with env.session() as s:
        new = s.exec(select(Alert).where(Alert.recipient_id == "QMO2", Alert.reason == "reassigned")).one()
    assert new.status == "open"
    upd = env.stub.wait_for("chat.update", lambda u: u.get("channel") == dm and "Reassigned to" in u.text_of_blocks())[-1]
    assert "Tom Ellison" in upd.text_of_blocks()
    assert not [b for b in upd["blocks"] if b["type"] == "actions" and any(
        el["action_id"] == "alert_ack" for el in b["elements"])]
    assert audits(env, "alert.reassigned")[0].actor == "QMO1"
