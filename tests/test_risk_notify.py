"""Dispatch of the alert outbox (real SMTP on loopback, a local stand-in for Slack's Web API),
retries, and the daily digest and weekly summary content."""

from __future__ import annotations

import email
import json
import socket
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from models import Alert, AlertDelivery, AuditEvent
from risk_helpers import build_register, stop_schedulers, store  # noqa: F401
from triage.notify.dispatch import MAX_ATTEMPTS, dispatch_pending
from triage.risk.alerts import acknowledge_alert
from triage.risk.digests import send_daily_digests, send_weekly_summaries
from triage.services import Services


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.rcpt_tos, msg))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=free_port())
    ctl.start()
    inbox.port = ctl.port
    yield inbox
    ctl.stop()


class SlackApi:
    """Stands in for https://slack.com/api/: records calls, answers like Slack."""

    def __init__(self):
        self.calls = []
        self.fail = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                ctype = self.headers.get("Content-Type", "")
                data = json.loads(body) if "json" in ctype else {k: v[0] for k, v in parse_qs(body).items()}
                method = self.path.rsplit("/", 1)[-1]
                api.calls.append((method, data))
                if api.fail:
                    out = {"ok": False, "error": "ratelimited"}
                else:
                    out = {"ok": True, "channel": "D" + str(data.get("channel", ""))[1:], "ts": f"{len(api.calls)}.000"}
                raw = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def slack_api():
    api = SlackApi()
    yield api
    api.server.shutdown()


@pytest.fixture
def services(engine, settings_factory, smtp, slack_api):
    return Services(settings=settings_factory(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none",
                                              slack_bot_token="xoxb-test", slack_api_url=slack_api.url),
                    engine=engine)


@pytest.fixture
def reg(session, frozen_clock):
    build_register(session)
    return session


def test_dispatch_sends_email_and_slack_then_updates_on_ack(reg, services, smtp, slack_api):
    c, alerts = store(reg, services, locations=["A"], urgency="immediate", safeguarding=["neglect"],
                      text="SECRET BODY about a resident")
    sent = dispatch_pending(session=reg, services=services)
    assert sent == 4  # QMO1 and the safeguarding lead, each by email and Slack
    rcpts = sorted(r[0] for r, _ in smtp.messages)
    assert rcpts == ["qmo1@council.example.org", "sgl1@council.example.org"]
    _, msg = next(m for m in smtp.messages if m[0] == ["qmo1@council.example.org"])
    body = msg.get_body(("plain",)).get_content()
    assert "Alder House" in msg["Subject"] and c.reference in msg["Subject"] and "immediate" in msg["Subject"]
    assert "SECRET BODY" not in body and c.reference in body and msg["Auto-Submitted"] == "auto-generated"
    posts = [d for m, d in slack_api.calls if m == "chat.postMessage"]
    assert sorted(p["channel"] for p in posts) == ["UQMO1", "USGL1"]
    assert dispatch_pending(session=reg, services=services) == 0  # nothing twice
    d = reg.exec(select(AlertDelivery).where(AlertDelivery.alert_id == alerts[0].id,
                                             AlertDelivery.channel == "slack")).one()
    assert d.status == "sent" and d.slack_ts and d.slack_channel == "DQMO1"

    acknowledge_alert(session=reg, alert_id=alerts[0].id, actor="QMO1", services=services)
    reg.commit()
    assert dispatch_pending(session=reg, services=services) == 2
    assert [m for m, _ in slack_api.calls].count("chat.update") == 1
    upd = smtp.messages[-1][1]
    assert upd["Subject"].startswith("Update: [acknowledged]") and upd["In-Reply-To"]
    assert "ACKNOWLEDGED by QMO1" in upd.get_body(("plain",)).get_content()


def test_dispatch_retries_with_backoff_then_fails(reg, services, frozen_clock, settings_factory, engine):
    dead = Services(settings=settings_factory(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none",
                                              smtp_timeout_seconds=2), engine=engine)
    c, alerts = store(reg, dead, locations=["D"], urgency="high")
    assert dispatch_pending(session=reg, services=dead) == 0
    d = reg.exec(select(AlertDelivery)).one()
    reg.refresh(d)
    assert d.status == "pending" and d.attempts == 1 and d.last_error == "ConnectionRefusedError"
    assert dispatch_pending(session=reg, services=dead) == 0  # backing off: not tried again yet
    reg.refresh(d)
    assert d.attempts == 1
    for _ in range(MAX_ATTEMPTS):
        frozen_clock.advance(hours=2)
        dispatch_pending(session=reg, services=dead)
    reg.refresh(d)
    assert d.status == "failed" and d.attempts == MAX_ATTEMPTS
    assert reg.exec(select(AuditEvent).where(AuditEvent.action == "alert.delivery_failed")).all()


def test_dispatch_recovers_when_smtp_returns(reg, services, smtp, frozen_clock, settings_factory, engine):
    dead = Services(settings=settings_factory(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none"),
                    engine=engine)
    store(reg, dead, locations=["D"], urgency="high")
    dispatch_pending(session=reg, services=dead)
    frozen_clock.advance(minutes=5)
    live = Services(settings=settings_factory(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none"),
                    engine=engine)
    assert dispatch_pending(session=reg, services=live) == 1
    assert [r for r, _ in smtp.messages] == [["qmo2@council.example.org"]]


def test_slack_failure_is_recorded_by_error_code(reg, services, slack_api):
    slack_api.fail = True
    store(reg, services, locations=["D"], urgency="high")
    dispatch_pending(session=reg, services=services)
    d = reg.exec(select(AlertDelivery).where(AlertDelivery.channel == "slack")).one()
    reg.refresh(d)
    assert d.status == "pending" and d.last_error == "SlackApiError: ratelimited" and d.next_attempt_at


def test_daily_digest_content(reg, services, smtp, slack_api, frozen_clock):
    c1, _ = store(reg, services, locations=["A"], urgency="medium", topics=["staffing"])
    c2, _ = store(reg, services, locations=["B"], urgency="low", topics=["communication"], source="slack",
                  text="other words entirely")
    c3, _ = store(reg, services, locations=["C"], urgency="medium")  # QMO2's
    c4, _ = store(reg, services, locations=["D"], urgency="high", topics=["x"], text="unrelated")  # not a digest item
    smtp.messages.clear()
    frozen_clock.advance(hours=20)
    assert send_daily_digests(session=reg, services=services) == 2
    by = {r[0]: m for r, m in smtp.messages}
    body = by["qmo1@council.example.org"].get_body(("plain",)).get_content()
    assert c1.reference in body and c2.reference in body and c3.reference not in body
    assert "Alder House" in body and "Beech House" in body and "communication" in body
    assert "2 medium/low concerns" in by["qmo1@council.example.org"]["Subject"]
    q2 = by["qmo2@council.example.org"].get_body(("plain",)).get_content()
    assert c3.reference in q2 and c4.reference not in q2
    dms = [d for m, d in slack_api.calls if m == "chat.postMessage"]
    assert sorted(d["channel"] for d in dms) == ["UQMO1", "UQMO2"]
    assert c1.reference in next(d["text"] for d in dms if d["channel"] == "UQMO1")
    # Once a day: a second run sends nothing.
    assert send_daily_digests(session=reg, services=services) == 0
    frozen_clock.advance(days=1)
    assert send_daily_digests(session=reg, services=services) == 0  # nothing new in the last day


def test_weekly_summary(reg, services, smtp, frozen_clock):
    store(reg, services, locations=["A"], urgency="immediate", safeguarding=["neglect"])
    store(reg, services, locations=["A"], urgency="high", sender="x@example.org")
    smtp.messages.clear()
    assert send_weekly_summaries(session=reg, services=services) == 2  # QMO1 and QMO2 hold homes
    by = {r[0]: m for r, m in smtp.messages}
    body = by["qmo1@council.example.org"].get_body(("plain",)).get_content()
    assert "RED" in body and "Alder House" in body and "+55.0 this week" in body
    assert "1 red" in by["qmo1@council.example.org"]["Subject"]
    assert send_weekly_summaries(session=reg, services=services) == 0


def test_escalation_alert_is_sent(reg, services, smtp, frozen_clock):
    from triage.risk import escalation

    c, alerts = store(reg, services, locations=["A"], urgency="immediate")
    dispatch_pending(session=reg, services=services)
    smtp.messages.clear()
    frozen_clock.advance(minutes=31)
    escalation.sweep(services=services)
    assert [r for r, _ in smtp.messages] == [["mgr1@council.example.org"]]
    assert smtp.messages[0][1]["Subject"].startswith("ESCALATION")
    assert "Not acknowledged by Officer QMO1 after 31 minutes" in smtp.messages[0][1].get_body(("plain",)).get_content()
    esc = reg.exec(select(Alert).where(Alert.kind == "escalation")).one()
    assert esc.recipient_id == "MGR1"
