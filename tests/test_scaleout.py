"""Scale-out: two `triage serve` processes on one PostgreSQL store never ingest a message twice.

Both processes run the mail job; the mailbox lock (a PostgreSQL advisory lock) lets one read
at a time. Half-way through, one process is killed outright: the other takes over and every
message still ends up processed exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from conftest import fresh_database_url
from dovecot import dovecot, dovecot_server  # noqa: F401  (fixtures)
from models import Concern, ConcernSource, InboundMessage
from triage.db import make_engine
from triage.demo import import_demo_register

pytestmark = [pytest.mark.dovecot, pytest.mark.postgres, pytest.mark.slow]

TRIAGE = str(Path(sys.executable).with_name("triage"))
HOMES = ["Larch House in Kingsmere", "Millrace House, Coldwater", "Kingsmere Manor", "Alder Grange",
         "Foxley House in Severnbridge", "Riverbend Lodge"]
ISSUES = ["call bells took over twenty minutes", "meals arrived cold again", "laundry keeps going missing",
          "no activities all week", "agency staff did not know residents", "MAR charts had gaps"]


def _message(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"relative{n}@example.org"
    msg["To"] = "qa-intelligence@severnshire.example.org"
    msg["Subject"] = f"Concern {n}"
    msg["Message-ID"] = make_msgid(domain="scaleout.example.org")
    msg.set_content(f"Report {n}: at {HOMES[n % len(HOMES)]} {ISSUES[n % len(ISSUES)]} "
                    f"(visit number {n}, my mother in room {100 + n}).")
    return bytes(msg)


def _wait(cond, timeout=120.0, what="condition", detail=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    assert cond(), f"timed out waiting for {what}\n{detail()}"


def test_two_processes_never_ingest_the_same_message_twice(dovecot, trained_model_dir, tmp_path):  # noqa: F811
    url = fresh_database_url("postgres", tmp_path)
    engine = make_engine(url)
    with Session(engine) as s:
        import_demo_register(session=s)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "SLACK_"))}
    env.update(TRIAGE_DATABASE_URL=url, TRIAGE_MODEL_DIR=str(trained_model_dir), TRIAGE_DATA_DIR=str(tmp_path),
               TRIAGE_IMAP_HOST=dovecot.host, TRIAGE_IMAP_PORT=str(dovecot.port), TRIAGE_IMAP_USER=dovecot.user,
               TRIAGE_IMAP_PASSWORD=dovecot.password, TRIAGE_IMAP_TLS="false", TRIAGE_IMAP_POLL_SECONDS="1",
               TRIAGE_HTTP_PORT="0", TRIAGE_ALERT_VIA_EMAIL="false")
    # Logs go to files: an unread pipe fills up and would block the process writing to it.
    logs = [open(tmp_path / f"serve{i}.log", "wb") for i in range(2)]
    procs = [subprocess.Popen([TRIAGE, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=logs[i],
                              start_new_session=True) for i in range(2)]

    def tails() -> str:
        return "\n".join(f"--- serve {i} ---\n" + (tmp_path / f"serve{i}.log").read_text(errors="replace")[-3000:]
                         for i in range(2))

    try:
        for n in range(15):
            dovecot.append("INBOX", _message(n))
        _wait(lambda: dovecot.count("Processed") == 15, what="first half processed", detail=tails)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=10)
        for n in range(15, 30):
            dovecot.append("INBOX", _message(n))
        _wait(lambda: dovecot.count("Processed") == 30, what="second half processed after one process died",
              detail=tails)
        assert dovecot.count("INBOX") == 0 and dovecot.count("Quarantine") == 0
        with Session(engine) as s:
            rows = s.exec(select(InboundMessage)).all()
            assert len(rows) == 30
            assert len({r.message_key for r in rows}) == 30
            assert {r.outcome for r in rows} == {"stored"}
            assert s.exec(select(func.count()).select_from(Concern)).one() == 30
            assert s.exec(select(func.count()).select_from(ConcernSource)).one() == 30
        procs[1].send_signal(signal.SIGTERM)
        assert procs[1].wait(timeout=60) == 0, tails()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in logs:
            f.close()
        engine.dispose()
