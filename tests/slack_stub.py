"""A local stand-in for Slack: the Web API the bot calls, and a driver that posts signed requests to the bot.

    from slack_stub import SlackStub, SlackDriver, slack_stub   # (tests/ is on sys.path under pytest)

    stub = SlackStub(users={"U1": "Priya Sharma"}, channels={"C1": "qa-intel"}).start()
    settings = settings_factory(slack_bot_token="xoxb-test", slack_signing_secret=SECRET,
                                slack_api_url=stub.url)
    ...                                    # build and serve the bot against it
    driver = SlackDriver(bot_url, SECRET)
    driver.event(driver.message("C1", "U1", "text"))
    stub.wait_for("chat.postMessage")      # polls, with a timeout; returns the matching calls

`SlackStub` is a real HTTP server (http.server in a thread) that records every Web API call
(method, arguments, token) and answers as Slack does: {"ok": true, "channel": ..., "ts": ...},
{"ok": false, "error": "channel_not_found"} for a channel it does not know, and so on.
Messages it has accepted are kept (`stub.message(channel, ts)`) and chat.update edits them.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from triage.devtools.slack_signing import signature
from triage.devtools.slack_standin import JSON_ARGS, Call, SlackStub  # noqa: F401  (re-exported for tests)

# --- driving the bot: signed requests like Slack sends ----------------------------------------------

def sign(secret: str, timestamp: str, body: bytes) -> str:
    return signature(secret, body, timestamp)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict

    def json(self):
        return json.loads(self.body) if self.body else None


class SlackDriver:
    """Posts Events API, interactivity and slash-command requests to a bot's request URL, signed."""

    def __init__(self, url: str, signing_secret: str, *, team_id: str = "T0STUB", api_app_id: str = "A0TRIAGE"):
        self.url, self.secret, self.team_id, self.api_app_id = url, signing_secret, team_id, api_app_id
        self._ts = itertools.count(1)

    def post(self, body: bytes, content_type: str, *, timestamp: str | None = None, signature: str | None = None,
             headers: dict | None = None) -> Reply:
        ts = timestamp or str(int(time.time()))
        hdrs = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": signature or sign(self.secret, ts, body)}
        hdrs.update(headers or {})
        req = urllib.request.Request(self.url, data=body, headers=hdrs, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return Reply(resp.status, resp.read(), dict(resp.headers))
        except urllib.error.HTTPError as err:
            return Reply(err.code, err.read(), dict(err.headers))

    # events -------------------------------------------------------------------------------------------
    def event(self, event: dict, *, event_id: str | None = None, retry_num: int | None = None, **kw) -> Reply:
        payload = {"token": "legacy", "team_id": self.team_id, "api_app_id": self.api_app_id, "type": "event_callback",
                   "event_id": event_id or "Ev" + uuid.uuid4().hex[:12].upper(), "event_time": int(time.time()),
                   "authorizations": [{"team_id": self.team_id, "user_id": "UBOT0TRIAGE", "is_bot": True}],
                   "event": event}
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post(json.dumps(payload).encode(), "application/json", headers=headers, **kw)

    def next_ts(self, base: float | None = None) -> str:
        base = base if base is not None else time.time()
        return f"{int(base)}.{next(self._ts):06d}"

    def message(self, channel: str, user: str, text: str, *, ts: str | None = None, thread_ts: str | None = None,
                **extra) -> dict:
        ev = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts or self.next_ts(),
              "channel_type": "channel", "team": self.team_id}
        if thread_ts:
            ev["thread_ts"] = thread_ts
        ev.update(extra)
        return ev

    def edit(self, channel: str, user: str, ts: str, old_text: str, new_text: str) -> dict:
        return {"type": "message", "subtype": "message_changed", "channel": channel, "hidden": True,
                "ts": self.next_ts(), "event_ts": self.next_ts(),
                "message": {"type": "message", "user": user, "text": new_text, "ts": ts,
                            "edited": {"user": user, "ts": self.next_ts()}},
                "previous_message": {"type": "message", "user": user, "text": old_text, "ts": ts}}

    def delete(self, channel: str, user: str, ts: str, old_text: str) -> dict:
        return {"type": "message", "subtype": "message_deleted", "channel": channel, "hidden": True,
                "deleted_ts": ts, "ts": self.next_ts(),
                "previous_message": {"type": "message", "user": user, "text": old_text, "ts": ts}}

    # interactivity ------------------------------------------------------------------------------------
    def interaction(self, payload: dict, **kw) -> Reply:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded", **kw)

    def _user(self, user: str) -> dict:
        return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": self.team_id}

    def block_action(self, user: str, action_id: str, value: str, *, channel: str | None = None,
                     message_ts: str | None = None, block_id: str = "b") -> Reply:
        payload = {"type": "block_actions", "team": {"id": self.team_id}, "user": self._user(user),
                   "api_app_id": self.api_app_id, "trigger_id": f"trig.{uuid.uuid4().hex[:10]}",
                   "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
                   "actions": [{"type": "button", "action_id": action_id, "block_id": block_id, "value": value,
                                "action_ts": str(time.time())}]}
        if channel:
            payload["channel"] = {"id": channel}
            payload["message"] = {"ts": message_ts, "type": "message"}
        return self.interaction(payload)

    def view_submission(self, user: str, view: dict, values: dict) -> Reply:
        """`view` as the bot opened it (from the stub's views.open call); `values` as Slack's state.values."""
        submitted = dict(view)
        submitted.setdefault("id", "V" + uuid.uuid4().hex[:10].upper())
        submitted["state"] = {"values": values}
        payload = {"type": "view_submission", "team": {"id": self.team_id}, "user": self._user(user),
                   "api_app_id": self.api_app_id, "trigger_id": f"trig.{uuid.uuid4().hex[:10]}", "view": submitted}
        return self.interaction(payload)

    def block_suggestion(self, user: str, action_id: str, value: str, *, block_id: str = "homes") -> Reply:
        payload = {"type": "block_suggestion", "team": {"id": self.team_id}, "user": self._user(user),
                   "api_app_id": self.api_app_id, "action_id": action_id, "block_id": block_id, "value": value,
                   "view": {"id": "V0SUGGEST", "type": "modal"}}
        return self.interaction(payload)

    def command(self, command: str, user: str, text: str = "", *, channel: str = "C0QAINTEL1",
                response_url: str | None = None) -> Reply:
        form = {"token": "legacy", "team_id": self.team_id, "channel_id": channel, "channel_name": "qa-intel",
                "user_id": user, "user_name": user.lower(), "command": command, "text": text,
                "api_app_id": self.api_app_id, "trigger_id": f"trig.{uuid.uuid4().hex[:10]}",
                "response_url": response_url or "http://127.0.0.1:9/response"}
        return self.post(urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded")


# --- state.values helpers for view submissions -------------------------------------------------------------

def option(value: str) -> dict:
    return {"text": {"type": "plain_text", "text": value}, "value": value}


def multi(block: str, action: str, values: list[str], kind: str = "multi_static_select") -> dict:
    return {block: {action: {"type": kind, "selected_options": [option(v) for v in values]}}}


def single(block: str, action: str, value: str | None, kind: str = "static_select") -> dict:
    return {block: {action: {"type": kind, "selected_option": option(value) if value else None}}}


def text_input(block: str, action: str, value: str) -> dict:
    return {block: {action: {"type": "plain_text_input", "value": value}}}


@pytest.fixture
def slack_stub():
    """A started SlackStub (no users or channels yet: add them), stopped after the test."""
    stub = SlackStub().start()
    yield stub
    stub.stop()


# --- a running bot against the stand-in, for the Slack tests and the lead's end-to-end test ------------------

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-0000-triage"
SHARED_CHANNEL = "C0SHARED01"  # a Slack Connect channel with partner agencies
TEAM_CHANNEL = "C0QAINTEL1"
PARTNER_USER = "U0PARTNER1"  # a care provider's staff member, not an officer


@dataclass
class BotEnv:
    stub: SlackStub
    driver: SlackDriver
    services: Any
    engine: Any
    server: Any

    def session(self):
        from sqlmodel import Session

        return Session(self.engine, expire_on_commit=False)

    def wait_until(self, predicate: Callable[[], Any], *, timeout: float = 20.0, what: str = "condition"):
        """Poll `predicate` (a store or stub query) until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)

    def officer_user(self, officer_id: str) -> str:
        from models import Officer

        with self.session() as s:
            return s.get(Officer, officer_id).slack_user_id

    def close(self) -> None:
        self.server.shutdown()
        self.stub.stop()
        self.engine.dispose()


def start_bot_env(*, database_url: str, settings_factory, register_dir, classifier, **settings) -> BotEnv:
    """Store with the register loaded, the stand-in Web API, and the real Bolt app served on loopback.

    `classifier`: the suite's `trained_classifier` fixture. Extra keyword arguments are settings.
    """
    from sqlmodel import Session, select

    from bot.server import serve_http
    from models import Officer
    from triage.db import make_engine
    from triage.register_import import import_register
    from triage.services import Services

    engine = make_engine(database_url)
    with Session(engine) as s:
        import_register(session=s, directory=register_dir / "cqc_directory.csv", ratings=register_dir / "ratings.csv",
                        officers=register_dir / "officers.csv", portfolio=register_dir / "portfolio.csv")
        officers = s.exec(select(Officer)).all()
    stub = SlackStub(token=BOT_TOKEN, channels={TEAM_CHANNEL: "qa-intel"}).start()
    stub.add_channel(SHARED_CHANNEL, "wyvernshire-providers", shared=True)
    stub.add_user(PARTNER_USER, "Sam Provider")
    for o in officers:
        if o.slack_user_id:
            stub.add_user(o.slack_user_id, o.name)
    cfg = dict(database_url=database_url, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
               slack_api_url=stub.url, slack_mode="http", alert_via_email=False,
               concern_url_template="https://triage.example.org/concerns/{id}")
    cfg.update(settings)
    services = Services(settings=settings_factory(**cfg), engine=engine)
    services.set_classifier(classifier)
    server = serve_http(services, "127.0.0.1", 0)
    return BotEnv(stub=stub, driver=SlackDriver(server.url, SIGNING_SECRET), services=services, engine=engine,
                  server=server)
