"""End-to-end benchmark: from an APPEND (or a signed Slack event) to the officer's Slack DM.

Measures, against a real Dovecot, the Slack stand-in and PostgreSQL (or SQLite with --sqlite):
  * latency APPEND → DM, median and p95, with IDLE and with polling (--poll-seconds);
  * latency signed Slack event → DM;
  * sustained concerns per minute with 1 and 2 `triage serve` processes sharing the store;
  * peak RSS of a serving process.
Alert grouping is switched off here (each concern its own alert) so every concern is timed.

    .venv/bin/python bench/e2e.py [--n 200] [--throughput-n 300] [--sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from _common import ROOT, console, ensure_model, summarise, table, write_results

import psutil
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import Session, func, select

HOMES = ["Larch House, Kingsmere", "Millrace House in Coldwater", "Kingsmere Manor", "Alder Grange, Coldwater",
         "Foxley House, Severnbridge", "Riverbend Lodge in Wrenford", "Goldcrest Court", "The Hollins, Wrenford"]
INCIDENTS = [
    "a carer slapped a resident across the face last night and she has a bruised cheek",
    "a resident with dementia has been missing since 5am and police are searching",
    "two night staff did not turn up and one carer is on her own with 30 residents tonight",
    "a resident was given another resident's morphine and was taken to A&E",
    "the heating and hot water have failed and it is 12 degrees in the lounge tonight",
    "a carer was seen pushing a resident into a chair and shouting at him",
]
PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def text_for(n: int, token: str | None = None) -> str:
    token = token or uuid.uuid4().hex[:8]
    return (f"Report {n} (ref {token}): at {HOMES[n % len(HOMES)]} {INCIDENTS[n % len(INCIDENTS)]}. "
            f"Raising a safeguarding concern now.")


def email_for(n: int, token: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"nurse{n}@nhs.example.org"
    msg["To"] = "qa-intelligence@severnshire.example.org"
    msg["Subject"] = f"Urgent concern {n}"
    msg["Message-ID"] = make_msgid(domain="bench.example.org")
    msg.set_content(text_for(n, token))
    return bytes(msg)


def new_database(sqlite: bool, tmp: Path) -> str:
    from triage.db import migrate

    if sqlite:
        url = f"sqlite:///{tmp}/bench.db"
    else:
        name = f"triage_bench_{uuid.uuid4().hex[:8]}"
        with sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    migrate(url)
    return url


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        with sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def first_dm_at(stub, reference: str) -> float | None:
    """When the stand-in received the first officer DM naming this concern (monotonic clock)."""
    for c in stub.calls_to("chat.postMessage"):
        if str(c.get("channel", "")).startswith(("U", "D")) and reference in c.text_of_blocks():
            return c.at
    return None


def reference_for(engine, token: str) -> str | None:
    from models import Concern

    with Session(engine) as s:
        return s.exec(select(Concern.reference).where(Concern.raw_text.contains(token))).first()


def urgency_of(engine, reference: str) -> str | None:
    from models import Concern

    with Session(engine) as s:
        return s.exec(select(Concern.urgency).where(Concern.reference == reference)).first()


def poll_until(fn, timeout: float, step: float = 0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(step)
    return None


def start_stack(url: str, model_dir: Path, *, idle: bool, poll: float):
    from triage.config import load_settings
    from triage.demo import import_demo_register
    from triage.db import make_engine
    from triage.devtools.dovecot import DovecotServer
    from triage.devtools.slack_standin import SlackStub
    from triage.serve import start_service

    engine = make_engine(url)
    with Session(engine) as s:
        if not s.exec(select(func.count()).select_from(__import__("models").Location)).one():
            import_demo_register(session=s)
        from models import Officer
        users = {o.slack_user_id: o.name for o in s.exec(select(Officer)).all()}
    dovecot = DovecotServer().start()
    stub = SlackStub(token="xoxb-bench", users=users, channels={"C0BENCH": "partner-intel"}).start()
    stub.add_user("U0BENCHPOST", "Bench Poster")
    secret = "bench-secret-0123456789"
    settings = load_settings(
        database_url=url, model_dir=model_dir, imap_host=dovecot.host, imap_port=dovecot.port,
        imap_user=dovecot.user, imap_password=dovecot.password, imap_tls=False, imap_use_idle=idle,
        imap_poll_seconds=poll, slack_bot_token="xoxb-bench", slack_signing_secret=secret,
        slack_api_url=stub.url, http_port=0, alert_via_email=False, alert_group_minutes=0, alert_storm_minutes=0,
        alert_dispatch_seconds=1,
    )
    running = start_service(settings)
    return engine, dovecot, stub, running, secret


def latency_run(url: str, model_dir: Path, n: int, *, idle: bool, poll: float, slack: bool = False) -> dict:
    from triage.devtools.slack_signing import signed_headers

    poll_s = poll
    engine, dovecot, stub, running, secret = start_stack(url, model_dir, idle=idle, poll=poll)
    lat: list[float] = []
    below: list[str] = []
    missed = 0
    proc = psutil.Process()
    peak = proc.memory_info().rss
    try:
        for i in range(n):
            token = uuid.uuid4().hex[:12]
            t0 = time.monotonic()
            if slack:
                ts = f"{int(time.time())}.{i:06d}"
                body = json.dumps({"type": "event_callback", "team_id": "T0STUB", "event_id": f"EvB{uuid.uuid4().hex[:10]}",
                                   "event": {"type": "message", "channel": "C0BENCH", "user": "U0BENCHPOST",
                                             "text": text_for(i, token), "ts": ts, "event_ts": ts,
                                             "channel_type": "channel"}}).encode()
                req = urllib.request.Request(f"{running.url}/slack/events", data=body,
                                             headers=signed_headers(secret, body), method="POST")
                urllib.request.urlopen(req, timeout=10).read()
            else:
                dovecot.append("INBOX", email_for(i, token))
            limit = max(30.0, poll_s * 3)
            ref = poll_until(lambda: reference_for(engine, token), limit, step=0.01)
            t1 = poll_until(lambda: first_dm_at(stub, ref), limit) if ref else None
            if t1 is not None:
                lat.append(t1 - t0)
            elif ref and urgency_of(engine, ref) in ("medium", "low", "none"):
                below.append(urgency_of(engine, ref))  # by design: the daily digest, not a DM
            else:
                missed += 1
            peak = max(peak, proc.memory_info().rss)
    finally:
        running.stop()
        stub.stop()
        dovecot.cleanup()
        engine.dispose()
    return {**summarise(lat), "missed": missed, "digest_not_dm": len(below),
            "peak_rss_mb": round(peak / 2**20, 1)}


def throughput_run(url: str, model_dir: Path, n: int, processes: int) -> dict:
    """Preload n messages, start `processes` serve processes, time until all are processed."""
    from triage.demo import import_demo_register
    from triage.db import make_engine
    from triage.devtools.dovecot import DovecotServer

    engine = make_engine(url)
    with Session(engine) as s:
        import_demo_register(session=s)
    dovecot = DovecotServer().start()
    for i in range(n):
        dovecot.append("INBOX", email_for(100000 + i))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "SLACK_"))}
    env.update(TRIAGE_DATABASE_URL=url, TRIAGE_MODEL_DIR=str(model_dir), TRIAGE_IMAP_HOST=dovecot.host,
               TRIAGE_IMAP_PORT=str(dovecot.port), TRIAGE_IMAP_USER=dovecot.user,
               TRIAGE_IMAP_PASSWORD=dovecot.password, TRIAGE_IMAP_TLS="false", TRIAGE_IMAP_POLL_SECONDS="1",
               TRIAGE_HTTP_PORT="0", TRIAGE_ALERT_VIA_EMAIL="false", TRIAGE_LOG_LEVEL="WARNING")
    triage = str(Path(sys.executable).with_name("triage"))
    t0 = time.monotonic()
    procs = [subprocess.Popen([triage, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(processes)]
    peak = 0
    try:
        deadline = time.monotonic() + 1800
        while dovecot.count("Processed") + dovecot.count("Quarantine") < n and time.monotonic() < deadline:
            for p in procs:
                try:
                    peak = max(peak, psutil.Process(p.pid).memory_info().rss)
                except psutil.NoSuchProcess:
                    pass
            time.sleep(0.25)
        elapsed = time.monotonic() - t0
        done = dovecot.count("Processed") + dovecot.count("Quarantine")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        dovecot.cleanup()
        engine.dispose()
    return {"processes": processes, "messages": done, "seconds": round(elapsed, 1),
            "per_minute": round(done / elapsed * 60, 1), "peak_rss_mb_per_process": round(peak / 2**20, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="concerns timed per latency mode")
    ap.add_argument("--throughput-n", type=int, default=300)
    ap.add_argument("--poll-seconds", type=float, default=5.0)
    ap.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL (throughput runs 1 process)")
    ap.add_argument("--paths", default="idle,poll,slack", help="latency paths to run (idle, poll, slack)")
    ap.add_argument("--no-throughput", action="store_true")
    args = ap.parse_args()
    wanted = set(args.paths.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    model_dir = ensure_model(ROOT / "var" / "classifier")
    results: dict = {"n": args.n, "store": "sqlite" if args.sqlite else "postgresql", "latency": {}, "throughput": []}
    previous = ROOT / "bench" / "results" / "e2e.json"
    if (wanted != {"idle", "poll", "slack"} or args.no_throughput) and previous.is_file():
        # A partial run updates only its own rows of the last full run.
        old = json.loads(previous.read_text())
        results["latency"], results["throughput"] = old.get("latency", {}), old.get("throughput", [])
    for key, name, kw in [("idle", "email, IDLE", dict(idle=True, poll=args.poll_seconds)),
                          ("poll", f"email, polling every {args.poll_seconds:g}s", dict(idle=False, poll=args.poll_seconds)),
                          ("slack", "slack event", dict(idle=True, poll=args.poll_seconds, slack=True))]:
        if key not in wanted:
            continue
        url = new_database(args.sqlite, tmp / name.replace(" ", "_").replace(",", ""))
        console.print(f"[bold]{name}[/]: {args.n} concerns …")
        try:
            results["latency"][name] = latency_run(url, model_dir, args.n, **kw)
        finally:
            drop_database(url)
    if not args.no_throughput:
        results["throughput"] = []
    for procs in ([] if args.no_throughput else [1] if args.sqlite else [1, 2]):
        url = new_database(args.sqlite, tmp / f"tp{procs}")
        console.print(f"[bold]throughput[/]: {args.throughput_n} queued emails, {procs} process(es) …")
        try:
            results["throughput"].append(throughput_run(url, model_dir, args.throughput_n, procs))
        finally:
            drop_database(url)
    table("Time to the officer's DM (seconds)", ["path", "n timed", "median", "p95", "max", "digest, not DM",
                                                  "missed", "peak RSS MB"],
          [[k, v["n"], v["median"], v["p95"], v["max"], v["digest_not_dm"], v["missed"], v["peak_rss_mb"]]
           for k, v in results["latency"].items()])
    table("Sustained throughput (mail, queued mailbox)", ["processes", "messages", "seconds", "concerns/min",
                                                          "peak RSS MB/process"],
          [[t["processes"], t["messages"], t["seconds"], t["per_minute"], t["peak_rss_mb_per_process"]]
           for t in results["throughput"]])
    path = write_results("e2e", results)
    console.print(f"written {path}")


if __name__ == "__main__":
    main()
