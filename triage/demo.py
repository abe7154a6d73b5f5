"""`triage demo`: the whole path on one machine, with no account anywhere.

Loads the shipped Severnshire register, trains the classifier if there is none, starts a
throwaway Dovecot, an SMTP sink and a stand-in for Slack's Web API, runs the real service
against them, feeds the demo concerns in by email and by signed Slack events, and shows
what happened. Everything runs on its own SQLite store (var/demo.db), rebuilt each run.
"""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
import urllib.request
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from sqlmodel import Session, select

from models import Alert, AlertDelivery, Concern, ConcernLocation, InboundMessage, Location, Officer

from . import clock
from .config import Settings
from .db import migrate, make_engine
from .register_import import import_register

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"
DEMO_CHANNEL = ("C0DEMOPARTNER", "partner-intel")
POSTER = ("U0DEMOPOSTER", "Jo Partridge (District Nursing)")
URGENCY_STYLE = {"immediate": "bold white on red", "high": "red", "medium": "yellow", "low": "green", "none": "dim"}
RATING_STYLE = {"red": "bold red", "amber": "yellow", "green": "green"}


def demo_concerns() -> list[dict]:
    with (DEMO_DATA / "concerns.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def import_demo_register(*, session: Session):
    reg = DEMO_DATA / "register"
    return import_register(session=session, directory=reg / "cqc_directory.csv", ratings=reg / "ratings.csv",
                           officers=reg / "officers.csv", portfolio=reg / "portfolio.csv", actor="system:demo")


def as_email(item: dict, *, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = item.get("sender") or "someone@example.org"
    msg["To"] = to
    msg["Subject"] = item.get("subject") or "(no subject)"
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = make_msgid(domain="demo.example.org")
    if "out of office" in (item.get("subject") or "").lower() or "automatic reply" in (item.get("subject") or "").lower():
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(item["text"])
    return bytes(msg)


def slack_event(item: dict, *, n: int) -> dict:
    ts = f"{int(time.time())}.{n:06d}"
    return {
        "token": "legacy", "team_id": "T0STUB", "api_app_id": "A0DEMO", "type": "event_callback",
        "event_id": f"Ev0DEMO{n:04d}{secrets.token_hex(3)}", "event_time": int(time.time()),
        "event": {"type": "message", "channel": DEMO_CHANNEL[0], "user": POSTER[0], "text": item["text"],
                  "ts": ts, "channel_type": "channel", "event_ts": ts},
    }


def post_signed(url: str, secret: str, payload: dict) -> int:
    from .devtools.slack_signing import signed_headers

    body = json.dumps(payload).encode()
    req = urllib.request.Request(url, data=body, headers=signed_headers(secret, body), method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status


def risk_matrix(*, session: Session, settings: Settings) -> dict[str, tuple[str, float]]:
    from .risk.assess import assess_location

    out = {}
    for loc in session.exec(select(Location).where(Location.monitored)).all():
        a = assess_location(session=session, location_id=loc.location_id, settings=settings, reason="demo view")
        out[loc.location_id] = (a.score.rating, a.score.score)
    session.commit()
    return out


def _wait(predicate, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def run_demo(*, base: Settings, wait: bool = True, console: Console | None = None, timeout: float = 90.0) -> dict:
    from .devtools.dovecot import DovecotServer
    from .devtools.slack_standin import SlackStub
    from .devtools.smtp_sink import SmtpSink
    from .serve import start_service

    console = console or Console()
    db_path = Path(base.data_dir) / "demo.db"
    url = base.database_url
    if base.database_url == Settings.model_fields["database_url"].default:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db_path}"
    migrate(url)
    engine = make_engine(url)

    console.rule("[bold]Care Concern Triage demo")
    with Session(engine) as session:
        report = import_demo_register(session=session)
    console.print(f"Register: Severnshire demo data, {report.totals('locations')} locations, "
                  f"{report.totals('organisations')} organisations, {report.totals('officers')} officers.")

    dovecot = DovecotServer().start()
    smtp = SmtpSink().start()
    with Session(engine) as session:
        officers = session.exec(select(Officer)).all()
    users = {o.slack_user_id: o.name for o in officers if o.slack_user_id}
    users[POSTER[0]] = POSTER[1]
    slack = SlackStub(users=users, channels={DEMO_CHANNEL[0]: DEMO_CHANNEL[1]}, shared_channels=(DEMO_CHANNEL[0],),
                      token="xoxb-demo").start()
    signing_secret = secrets.token_hex(16)
    settings = base.model_copy(update=dict(
        database_url=url,
        imap_host=dovecot.host, imap_port=dovecot.port, imap_user=dovecot.user,
        imap_password=SecretStr(dovecot.password), imap_tls=False, imap_poll_seconds=5.0,
        smtp_host=smtp.host, smtp_port=smtp.port, smtp_security="none", smtp_from="qa-intelligence@severnshire.example.org",
        slack_bot_token=SecretStr("xoxb-demo"), slack_signing_secret=SecretStr(signing_secret),
        slack_api_url=slack.url, slack_mode="http", http_port=base.http_port,
    ))
    running = None
    try:
        with Session(engine) as session:
            before = risk_matrix(session=session, settings=settings)
        running = start_service(settings)
        if running.parts.get("classifier", "").startswith("NOT READY"):
            raise RuntimeError(running.parts["classifier"])
        console.print(f"Service up at {running.url}; Slack events at {running.url}/slack/events")

        items = demo_concerns()
        emails = [i for i in items if i.get("source") == "email"]
        posts = [i for i in items if i.get("source") == "slack"]
        for item in emails:
            dovecot.append("INBOX", as_email(item, to="qa-intelligence@severnshire.example.org"))
        for n, item in enumerate(posts, start=1):
            post_signed(f"{running.url}/slack/events", signing_secret, slack_event(item, n=n))
        console.print(f"Fed {len(emails)} emails into the mailbox and {len(posts)} signed Slack events.")

        def settled() -> bool:
            with Session(engine) as s:
                mails = len(s.exec(select(InboundMessage)).all())
                slack_in = len(s.exec(select(Concern).where(Concern.source == "slack")).all())
                pending = s.exec(select(AlertDelivery).where(AlertDelivery.status == "pending")).all()
            return mails >= len(emails) and slack_in >= len(posts) and not pending

        if not _wait(settled, timeout):
            console.print("[yellow]Not everything was processed within the time allowed; showing what was.")
        time.sleep(1.0)  # let the thread replies land
        result = show_results(engine=engine, settings=settings, before=before, console=console, smtp=smtp, slack=slack)
        if wait:
            console.rule("[bold]Running")
            console.print(
                f"triage serve is running at {running.url} against the throwaway mailbox "
                f"({dovecot.user}@{dovecot.host}:{dovecot.port}), SMTP sink and Slack stand-in. Ctrl-C stops it.\n"
                "To point it at a real mailbox and workspace, stop the demo and run `triage serve` with:\n"
                "  TRIAGE_IMAP_HOST, TRIAGE_IMAP_USER, TRIAGE_IMAP_PASSWORD   (the shared mailbox, TLS on 993)\n"
                "  TRIAGE_SMTP_HOST, TRIAGE_SMTP_FROM                         (alerts and digests by email)\n"
                "  SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN)  (install bot/manifest.yml; see docs/slack.md)\n"
                "  TRIAGE_DATABASE_URL=postgresql+psycopg://...               (the production store)\n"
                "and load your register with `triage register import`.")
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            stop.wait()
        return result
    finally:
        if running is not None:
            running.stop()
        slack.stop()
        smtp.stop()
        dovecot.cleanup()
        engine.dispose()


def _short_evidence(classification: dict | None) -> str:
    if not classification:
        return ""
    ev = classification.get("evidence") or {}
    bits = []
    for e in (ev.get("urgency") or [])[:2]:
        if isinstance(e, dict):
            name = e.get("rule") or e.get("source") or "model"
            text = e.get("text") or ""
            bits.append(f"{name}: “{text[:40]}”" if text else str(name))
    for loc, spans in list((ev.get("providers") or {}).items())[:2]:
        for s in spans[:1]:
            if isinstance(s, dict):
                bits.append(f"home “{(s.get('text') or '')[:30]}” ({s.get('method', '')})")
    return "\n".join(bits)


def show_results(*, engine, settings: Settings, before: dict, console: Console, smtp, slack) -> dict:
    with Session(engine) as session:
        names = {l.location_id: l.name + (f", {l.town}" if l.town else "") for l in session.exec(select(Location)).all()}
        officers = {o.officer_id: o for o in session.exec(select(Officer)).all()}
        concerns = session.exec(select(Concern).order_by(Concern.id)).all()
        table = Table("Ref", "From", "Home(s)", "Urgency", "Domains / topics", "Safeguarding", "Evidence",
                      title="Concerns triaged", show_lines=True)
        for c in concerns:
            locs = [cl.location_id for cl in session.exec(select(ConcernLocation).where(ConcernLocation.concern_id == c.id))]
            table.add_row(c.reference, c.source, "\n".join(names.get(l, l) for l in locs) or "[dim]none linked",
                          f"[{URGENCY_STYLE.get(c.urgency or '', '')}]{c.urgency}",
                          ", ".join(c.domains) + ("\n" + ", ".join(c.topics) if c.topics else ""),
                          ", ".join(c.safeguarding) or "-", _short_evidence(c.classification))
        console.print(table)
        skipped = session.exec(select(InboundMessage).where(InboundMessage.outcome.in_(["auto_reply", "quarantined"]))).all()
        for m in skipped:
            console.print(f"  mail not treated as a concern: {m.outcome} ({m.reason or 'auto-reply'})")

        alerts = session.exec(select(Alert).order_by(Alert.id)).all()
        at = Table("Alert", "To", "Why", "Urgency", "Home", "Delivered", title="Who was alerted")
        for a in alerts:
            dels = session.exec(select(AlertDelivery).where(AlertDelivery.alert_id == a.id)).all()
            o = officers.get(a.recipient_id)
            at.add_row(str(a.id), f"{o.name} ({o.officer_id})" if o else a.recipient_id, f"{a.kind}/{a.reason}",
                       a.urgency or "", names.get(a.location_id or "", "-"),
                       ", ".join(f"{d.channel}:{d.status}" for d in dels) or "-")
        console.print(at)
        console.print(f"Slack DMs sent to officers: {len([c for c in slack.calls_to('chat.postMessage') if str(c.get('channel', '')).startswith(('U', 'D'))])}; "
                      f"emails in the SMTP sink: {len(smtp.messages)}")
        after = risk_matrix(session=session, settings=settings)
    rt = Table("Home", "Before", "After", title="Risk matrix: homes whose picture changed")
    changed = 0
    for loc, (rating, score) in sorted(after.items(), key=lambda kv: -kv[1][1]):
        b_rating, b_score = before.get(loc, ("-", 0.0))
        if abs(score - b_score) < 0.01 and rating == b_rating:
            continue
        changed += 1
        rt.add_row(names.get(loc, loc), f"[{RATING_STYLE.get(b_rating, '')}]{b_rating} {b_score:.0f}",
                   f"[{RATING_STYLE.get(rating, '')}]{rating} {score:.0f}")
    console.print(rt)
    return {"concerns": len(concerns), "alerts": len(alerts), "risk_changed": changed,
            "emails_sent": len(smtp.messages)}
