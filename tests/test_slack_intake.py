"""Channel intake through the real Bolt app on loopback, with signed requests and the stand-in Web API."""

from __future__ import annotations

import json
import time

import pytest
from sqlmodel import select

from models import AuditEvent, Concern, ConcernLocation, ConcernSource, Location, SlackEventSeen
from slack_stub import (PARTNER_USER, SHARED_CHANNEL, SIGNING_SECRET, TEAM_CHANNEL, SlackDriver,
                        sign, start_bot_env)

BRUISE = ("Morning all - visited Brookvale Lodge yesterday. A resident had fresh bruising on both forearms "
          "and told me a carer grabbed her roughly during personal care. Staff could not explain it.")
LUNCH = "Brookvale Lodge have a new activities coordinator and the garden club restarts next month."


@pytest.fixture
def env(trained_classifier, sqlite_url, settings_factory, shared_register):
    e = start_bot_env(database_url=sqlite_url, settings_factory=settings_factory, register_dir=shared_register,
                      classifier=trained_classifier)
    yield e
    e.close()


@pytest.fixture
def env_any_db(trained_classifier, db_url, settings_factory, shared_register):
    """The same, once on SQLite and once on PostgreSQL."""
    e = start_bot_env(database_url=db_url, settings_factory=settings_factory, register_dir=shared_register,
                      classifier=trained_classifier)
    yield e
    e.close()


def concerns(env) -> list[Concern]:
    with env.session() as s:
        return list(s.exec(select(Concern).order_by(Concern.id)).all())


def thread_replies(env, ts: str, channel: str = SHARED_CHANNEL):
    return env.stub.calls_to("chat.postMessage", lambda c: c.get("thread_ts") == ts and c.get("channel") == channel)


def post(env, text: str, *, channel: str = SHARED_CHANNEL, user: str = PARTNER_USER, **kw):
    ev = env.driver.message(channel, user, text, **kw)
    reply = env.driver.event(ev)
    assert reply.status == 200
    return ev


def wait_reply(env, ts: str, channel: str = SHARED_CHANNEL):
    return env.stub.wait_for("chat.postMessage", lambda c: c.get("thread_ts") == ts and c.get("channel") == channel)[0]


def stored_labels(env, concern_id: int) -> tuple[Concern, list[str]]:
    with env.session() as s:
        c = s.get(Concern, concern_id)
        homes = s.exec(select(Location.name).join(ConcernLocation, ConcernLocation.location_id == Location.location_id)
                       .where(ConcernLocation.concern_id == concern_id)).all()
        return c, list(homes)


def test_shared_channel_post_becomes_one_concern_and_one_tagged_thread_reply(env_any_db):
    env = env_any_db
    ev = post(env, BRUISE)
    reply = wait_reply(env, ev["ts"])

    [c] = concerns(env)
    assert (c.source, c.external_id, c.slack_channel, c.slack_ts) == ("slack", f"{SHARED_CHANNEL}:{ev['ts']}",
                                                                       SHARED_CHANNEL, ev["ts"])
    assert c.channel == "#wyvernshire-providers"  # from conversations.info
    assert c.sender == "Sam Provider"  # from users.info
    assert c.raw_text == BRUISE
    env.wait_until(lambda: stored_labels(env, c.id)[0].slack_reply_ts, what="reply ts stored")
    c, homes = stored_labels(env, c.id)
    assert "Brookvale Lodge" in homes
    stub_msg = env.stub.message(SHARED_CHANNEL, c.slack_reply_ts)
    assert stub_msg is not None and stub_msg["thread_ts"] == ev["ts"]

    shown = reply.text_of_blocks()
    assert c.reference in shown
    for h in homes:
        assert h in shown
    from bot.vocab import label

    for d in c.domains:
        assert label(d) in shown
    assert label(c.urgency) in shown
    # Tags only: nothing of the report itself goes back into a shared channel.
    assert "bruising" not in shown and "forearms" not in shown and "carer" not in shown
    for t in c.topics + c.safeguarding:
        assert label(t) not in shown
    buttons = [el for b in reply["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [("correct_tags", str(c.id)), ("not_concern", str(c.id))]
    assert len(thread_replies(env, ev["ts"])) == 1


def test_retried_event_creates_nothing_more(env_any_db):
    env = env_any_db
    ev = env.driver.message(SHARED_CHANNEL, PARTNER_USER, BRUISE)
    assert env.driver.event(ev, event_id="Ev0RETRY0001").status == 200
    wait_reply(env, ev["ts"])
    # Slack retries the same event (same event_id, X-Slack-Retry-Num), then, for good measure, an
    # event with a new ID for the same message: the pipeline is idempotent on channel:ts too.
    assert env.driver.event(ev, event_id="Ev0RETRY0001", retry_num=1).status == 200
    assert env.driver.event(ev, event_id="Ev0RETRY0001", retry_num=2).status == 200
    assert env.driver.event(ev, event_id="Ev0RETRY0002").status == 200
    env.server.shutdown()  # waits for every worker to finish what it took

    assert len(concerns(env)) == 1
    assert len(thread_replies(env, ev["ts"])) == 1
    with env.session() as s:
        seen = {e.event_id for e in s.exec(select(SlackEventSeen)).all()}
        sources = s.exec(select(ConcernSource)).all()
    assert {"Ev0RETRY0001", "Ev0RETRY0002"} <= seen
    assert len(sources) == 1


def test_a_reply_that_failed_is_posted_later_once(env, frozen_clock):
    from datetime import timedelta

    from bot.context import BotContext
    from bot.intake import post_missing_replies

    env.stub.fail_next("chat.postMessage", "ratelimited")
    ev = post(env, BRUISE)
    [c] = env.wait_until(lambda: concerns(env), what="concern stored")
    env.server.shutdown()  # the handler has finished (its reply failed)
    assert len(thread_replies(env, ev["ts"])) == 1 and concerns(env)[0].slack_reply_ts is None  # refused

    ctx, client = BotContext(services=env.services), env.services.slack_client
    assert post_missing_replies(ctx, client) == 0  # too recent: its handler might still be posting
    frozen_clock.advance(timedelta(minutes=3))
    assert post_missing_replies(ctx, client) == 1
    assert post_missing_replies(ctx, client) == 0
    _refused, reply = thread_replies(env, ev["ts"])
    assert c.reference in reply.text_of_blocks()
    reply_ts = concerns(env)[0].slack_reply_ts
    assert reply_ts and env.stub.message(SHARED_CHANNEL, reply_ts)["thread_ts"] == ev["ts"]


def test_bad_or_stale_signature_is_refused_with_401(env):
    ev = env.driver.message(SHARED_CHANNEL, PARTNER_USER, BRUISE)
    body = json.dumps({"type": "event_callback", "event_id": "Ev0BAD", "team_id": "T0STUB", "event": ev}).encode()
    now = str(int(time.time()))
    assert env.driver.post(body, "application/json", signature="v0=" + "0" * 64).status == 401
    wrong_secret = SlackDriver(env.driver.url, "not-the-secret")
    assert wrong_secret.event(ev).status == 401
    stale = str(int(time.time()) - 10 * 60)  # Bolt refuses anything older than five minutes
    assert env.driver.post(body, "application/json", timestamp=stale, signature=sign(SIGNING_SECRET, stale, body)).status == 401
    tampered = sign(SIGNING_SECRET, now, body)
    assert env.driver.post(body + b" ", "application/json", timestamp=now, signature=tampered).status == 401
    # A correctly signed url_verification gets its challenge back (how Slack checks the request URL).
    challenge = env.driver.post(json.dumps({"type": "url_verification", "challenge": "abc123"}).encode(),
                                "application/json")
    assert challenge.status == 200 and b"abc123" in challenge.body
    env.server.shutdown()
    assert concerns(env) == []
    assert env.stub.calls_to("chat.postMessage") == []


def test_bot_posts_and_other_subtypes_are_acknowledged_and_ignored(env):
    d = env.driver
    events = [
        d.message(SHARED_CHANNEL, PARTNER_USER, BRUISE, bot_id="B0OTHERBOT"),
        {**d.message(SHARED_CHANNEL, PARTNER_USER, BRUISE + " (bot)"), "subtype": "bot_message"},
        d.message(SHARED_CHANNEL, env.stub.bot_user_id, BRUISE + " (self)"),
        {**d.message(SHARED_CHANNEL, PARTNER_USER, "has joined the channel"), "subtype": "channel_join"},
        {**d.message(SHARED_CHANNEL, PARTNER_USER, "set the topic"), "subtype": "channel_topic"},
        {"type": "reaction_added", "user": PARTNER_USER, "reaction": "eyes",
         "item": {"type": "message", "channel": SHARED_CHANNEL, "ts": "1.2"}},
    ]
    for ev in events:
        assert d.event(ev).status == 200  # never 404: Slack would retry
    env.server.shutdown()
    assert concerns(env) == []
    assert env.stub.calls_to("chat.postMessage") == []


def test_edit_reclassifies_and_updates_the_reply(env):
    ev = post(env, LUNCH)
    wait_reply(env, ev["ts"])
    [before] = concerns(env)
    before_labels = (before.urgency, before.domains, before.safeguarding)
    env.wait_until(lambda: concerns(env)[0].slack_reply_ts, what="reply ts")
    reply_ts = concerns(env)[0].slack_reply_ts

    assert env.driver.event(env.driver.edit(SHARED_CHANNEL, PARTNER_USER, ev["ts"], LUNCH, BRUISE)).status == 200
    env.stub.wait_for("chat.update", lambda c: c.get("ts") == reply_ts)
    [after] = concerns(env)
    assert after.raw_text == BRUISE
    expected = env.services.classifier.classify(after.clean_text, session=env.session(), cleaned=True).to_dict()
    assert after.urgency == expected["urgency"] and sorted(after.domains) == sorted(expected["domains"])
    assert (after.urgency, after.domains, after.safeguarding) != before_labels
    with env.session() as s:
        [edit] = s.exec(select(AuditEvent).where(AuditEvent.action == "concern.edited")).all()
    assert edit.entity_id == str(after.id)
    assert edit.details["old"]["urgency"] == before.urgency and edit.details["new"]["urgency"] == after.urgency
    from bot.vocab import label

    update = env.stub.calls_to("chat.update", lambda c: c.get("ts") == reply_ts)[-1]
    assert label(after.urgency) in update.text_of_blocks()
    assert len(concerns(env)) == 1

    # An unfurl arrives as message_changed with the same text: nothing is re-done.
    n_updates = len(env.stub.calls_to("chat.update"))
    env.driver.event(env.driver.edit(SHARED_CHANNEL, PARTNER_USER, ev["ts"], BRUISE, BRUISE))
    env.server.shutdown()
    assert len(env.stub.calls_to("chat.update")) == n_updates
    with env.session() as s:
        assert len(s.exec(select(AuditEvent).where(AuditEvent.action == "concern.edited")).all()) == 1


def test_delete_withdraws_the_concern(env):
    ev = post(env, BRUISE)
    wait_reply(env, ev["ts"])
    env.wait_until(lambda: concerns(env)[0].slack_reply_ts, what="reply ts")
    reply_ts = concerns(env)[0].slack_reply_ts
    assert env.driver.event(env.driver.delete(SHARED_CHANNEL, PARTNER_USER, ev["ts"], BRUISE)).status == 200
    update = env.stub.wait_for("chat.update", lambda c: c.get("ts") == reply_ts)[-1]
    [c] = concerns(env)
    assert c.status == "withdrawn"
    with env.session() as s:
        [audit] = s.exec(select(AuditEvent).where(AuditEvent.action == "concern.withdrawn")).all()
    assert audit.entity_id == str(c.id) and audit.details["status"] == {"old": "open", "new": "withdrawn"}
    assert "withdrawn" in update.text_of_blocks()
    assert not [b for b in update["blocks"] if b["type"] == "actions"]  # no buttons on a withdrawn concern


def test_thread_reply_is_a_child_of_the_threads_concern(env):
    ev = post(env, LUNCH, channel=TEAM_CHANNEL, user=env.officer_user("QMO1"))
    wait_reply(env, ev["ts"], TEAM_CHANNEL)
    [parent] = concerns(env)
    replies_before = len(thread_replies(env, ev["ts"], TEAM_CHANNEL))

    child_ev = post(env, BRUISE, channel=TEAM_CHANNEL, user=PARTNER_USER, thread_ts=ev["ts"])
    env.wait_until(lambda: len(concerns(env)) == 2 and concerns(env)[1].parent_id, what="child concern")
    child = concerns(env)[1]
    assert child.parent_id == parent.id
    assert child.external_id == f"{TEAM_CHANNEL}:{child_ev['ts']}"
    with env.session() as s:
        [audit] = s.exec(select(AuditEvent).where(AuditEvent.action == "concern.thread_reply")).all()
    assert audit.details["parent"] == parent.id
    if child.urgency != "none":
        # The bot answers in the same thread (not a new thread under the reply) with the child's reference.
        r = env.stub.wait_for("chat.postMessage", lambda c: c.get("thread_ts") == ev["ts"], count=replies_before + 1)[-1]
        assert child.reference in r.text_of_blocks()
    env.server.shutdown()
    assert len(concerns(env)) == 2


def test_thread_reply_without_news_gets_no_bot_answer(env):
    ev = post(env, BRUISE)
    wait_reply(env, ev["ts"])
    post(env, "thanks, noted", thread_ts=ev["ts"], user=env.officer_user("QMO1"))
    env.server.shutdown()
    cs = concerns(env)
    assert len(cs) == 2 and cs[1].parent_id == cs[0].id
    if cs[1].urgency in (None, "none"):
        assert len(thread_replies(env, ev["ts"])) == 1


def test_edits_and_deletions_of_the_bots_own_replies_change_nothing(env):
    ev = post(env, BRUISE)
    wait_reply(env, ev["ts"])
    env.wait_until(lambda: concerns(env)[0].slack_reply_ts, what="reply ts")
    [c] = concerns(env)
    bot_msg = {"type": "message", "user": env.stub.bot_user_id, "bot_id": env.stub.bot_id, "ts": c.slack_reply_ts,
               "text": "Concern", "thread_ts": ev["ts"]}
    d = env.driver
    d.event({"type": "message", "subtype": "message_changed", "channel": SHARED_CHANNEL, "hidden": True,
             "ts": d.next_ts(), "message": {**bot_msg, "text": "Concern (edited)"}, "previous_message": bot_msg})
    d.event({"type": "message", "subtype": "message_deleted", "channel": SHARED_CHANNEL, "hidden": True,
             "ts": d.next_ts(), "deleted_ts": c.slack_reply_ts, "previous_message": bot_msg})
    env.server.shutdown()
    [after] = concerns(env)
    assert (after.status, after.raw_text, after.urgency) == ("open", BRUISE, c.urgency)
    with env.session() as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action.in_(["concern.edited", "concern.withdrawn"]))).all() == []


def test_same_report_in_two_channels_is_one_concern(env):
    first = post(env, BRUISE, channel=TEAM_CHANNEL, user=env.officer_user("QMO3"))
    wait_reply(env, first["ts"], TEAM_CHANNEL)
    second = post(env, BRUISE)
    note = wait_reply(env, second["ts"])
    [c] = concerns(env)
    assert note["text"] == f"Already logged as concern {c.reference}."
    assert "blocks" not in note.args or not note["blocks"]
    with env.session() as s:
        relations = sorted(r.relation for r in s.exec(select(ConcernSource).where(ConcernSource.concern_id == c.id)).all())
    assert relations == ["duplicate", "original"]


def test_names_fall_back_to_ids_when_slack_will_not_say(env):
    """A Slack Connect user from another organisation may be invisible to users.info."""
    env.stub.fail_next("conversations.info", "channel_not_found")
    ev = post(env, BRUISE, user="U0EXTERNAL9")
    wait_reply(env, ev["ts"])
    [c] = concerns(env)
    assert (c.sender, c.channel) == ("U0EXTERNAL9", f"#{SHARED_CHANNEL}")
    # The failed channel lookup was not cached: the next post gets the name.
    ev2 = post(env, LUNCH)
    wait_reply(env, ev2["ts"])
    assert concerns(env)[1].channel == "#wyvernshire-providers"


def test_shared_channel_profile_saves_a_users_info_call(env):
    ev = post(env, BRUISE, user="U0EXTERNAL9", user_profile={"real_name": "Ann Partner", "display_name": "ann"})
    wait_reply(env, ev["ts"])
    assert concerns(env)[0].sender == "Ann Partner"
    assert env.stub.calls_to("users.info") == []
