"""Email ingestion against a real Dovecot: every message accounted for, crash- and restart-safe."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import Session, func, select

from dovecot import dovecot, dovecot_server  # noqa: F401  (fixtures)
from mail_fixtures.support import (corpus, expected, imap_settings, large_expectation, load_register,
                                   mail_classifier, trained_model_dir)
from models import AuditEvent, Concern, ConcernSource, InboundMessage, MailboxState
from triage.db import make_engine
from triage.services import Services

pytestmark = pytest.mark.dovecot

REPO = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "mail_fixtures" / "run_ingest.py"


@pytest.fixture
def services_for(dovecot, settings_factory, request, shared_register):  # noqa: F811
    """Build Services on a given store URL, with the register loaded and the classifier set."""
    made = []
    model_dir = trained_model_dir(request)

    def make(url: str, **extra) -> Services:
        if model_dir is not None:
            extra.setdefault("model_dir", model_dir)
        settings = settings_factory(database_url=url, **imap_settings(dovecot, **extra))
        engine = make_engine(url)
        load_register(engine, shared_register)
        svc = Services(settings=settings, engine=engine)
        svc.set_classifier(mail_classifier(request))
        made.append(engine)
        return svc

    yield make
    for e in made:
        e.dispose()


def _wait(cond, timeout=60.0, step=0.05):
    # Waits for something to happen; a generous limit, not a speed assertion.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def _rows(engine) -> list[InboundMessage]:
    with Session(engine) as s:
        return list(s.exec(select(InboundMessage).order_by(InboundMessage.id)).all())


def _concern_count(engine) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(Concern)).one()


def _plain(mid: str, body: str, frm: str = "Sam Patel <sam.patel@wyvernshire.example.org>",
           subject: str = "Concern", extra: str = "") -> bytes:
    return (f"From: {frm}\r\nTo: qa@wyvernshire.example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <{mid}>\r\nDate: Mon, 16 Nov 2026 09:00:00 +0000\r\n{extra}"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


# --- the corpus: count in = count out ------------------------------------------------------

def _check_corpus_outcome(services, dovecot, msgs, summary):  # noqa: F811
    exp = expected()
    exp["10_large_attachment.eml"] = large_expectation()
    names = [n for n, _ in msgs]
    want = {n: exp[n]["outcome"] for n in names}
    engine = services.engine

    # Inbox empty; every message is in exactly one of Processed / Quarantine.
    assert dovecot.count("INBOX") == 0
    n_quar = sum(1 for o in want.values() if o == "quarantined")
    assert dovecot.count("Quarantine") == n_quar
    assert dovecot.count("Processed") == len(msgs) - n_quar
    # Nothing was marked read on the way (BODY.PEEK[]).
    assert all(b"\\Seen" not in f for f in dovecot.flags("Processed"))

    rows = _rows(engine)
    assert len(rows) == len(msgs)
    by_sha = {r.raw_sha256: r for r in rows}
    import hashlib
    for name, raw in msgs:
        row = by_sha[hashlib.sha256(raw).hexdigest()]
        assert row.outcome == want[name], (name, row.outcome, row.reason)
        facts = exp[name]
        if "reason_contains" in facts:
            assert facts["reason_contains"].lower() in (row.reason or "").lower(), (name, row.reason)
        if row.outcome in ("stored", "duplicate"):
            assert row.concern_id is not None
        with Session(engine) as s:
            concern = s.get(Concern, row.concern_id) if row.concern_id else None
            if row.outcome == "stored":
                for w in facts.get("words", []):
                    assert w in concern.clean_text, (name, w)
                for w in facts.get("absent", []):
                    assert w not in concern.clean_text, (name, w)
                if "original_sender" in facts:
                    assert facts["original_sender"] in concern.original_sender
                    if "original_subject" in facts:
                        assert concern.original_subject == facts["original_subject"]
                    assert concern.sender and concern.sender != concern.original_sender
                if "attachment" in facts:
                    fname, ctype = facts["attachment"]
                    att = [a for a in concern.attachments if a["filename"] == fname]
                    assert att and att[0]["content_type"] == ctype and att[0]["size"] > 0
                if "subject" in facts:
                    assert concern.subject == facts["subject"]
                if "sender_contains" in facts:
                    assert facts["sender_contains"] in concern.sender
                if "key_prefix" in facts:
                    assert row.message_key.startswith(facts["key_prefix"])
            if row.outcome == "duplicate":
                first_name = facts["duplicate_of"]
                first = by_sha[hashlib.sha256(dict(msgs)[first_name]).hexdigest()]
                assert row.concern_id == first.concern_id
            if row.outcome in ("auto_reply", "quarantined"):
                assert row.concern_id is None

    # One concern per distinct concern.
    n_stored = sum(1 for o in want.values() if o == "stored")
    assert _concern_count(engine) == n_stored
    assert summary.fetched == len(msgs)
    assert summary.stored == n_stored
    assert summary.duplicates == sum(1 for o in want.values() if o == "duplicate")
    assert summary.quarantined == n_quar
    assert summary.auto_replies == sum(1 for o in want.values() if o == "auto_reply")
    # The large message is a concern with its 15 MB attachment listed.
    with Session(engine) as s:
        big = s.exec(select(Concern).where(Concern.external_id == "10.large@wyvernshire.example.org")).one()
        assert big.attachments[0]["size"] >= 15 * 1024 * 1024


def test_corpus_every_message_accounted_for(db_url, services_for, dovecot):  # noqa: F811
    from mail_ingest.job import run_once

    msgs = corpus()
    assert len(msgs) >= 30
    services = services_for(db_url)
    dovecot.append_many("INBOX", [raw for _, raw in msgs])
    summary = run_once(services)
    _check_corpus_outcome(services, dovecot, msgs, summary)

    # A second run finds nothing and changes nothing.
    again = run_once(services)
    assert again.fetched == 0
    assert len(_rows(services.engine)) == len(msgs)
    with Session(services.engine) as s:
        state = s.exec(select(MailboxState)).one()
        assert state.last_uid == len(msgs) and state.uidvalidity


def test_cli_once_drains_and_summarises(sqlite_url, services_for, dovecot, tmp_path):  # noqa: F811
    """`triage ingest mail --once`, as a real process: inbox empty, summary says so."""
    services = services_for(sqlite_url)
    msgs = [m for m in corpus(include_large=False)]
    dovecot.append_many("INBOX", [raw for _, raw in msgs])
    proc = _run_cli(services, ["ingest", "mail", "--once", "--json"])
    assert proc.returncode == 0, proc.stderr
    import json
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    exp = expected()
    assert summary["fetched"] == len(msgs)
    assert summary["stored"] == sum(1 for n, _ in msgs if exp[n]["outcome"] == "stored")
    assert summary["duplicates"] == 2 and summary["quarantined"] == 3 and summary["auto_replies"] == 6
    assert dovecot.count("INBOX") == 0
    assert _concern_count(services.engine) == summary["stored"]
    with Session(services.engine) as s:
        versions = {c.model_version for c in s.exec(select(Concern)).all()}
    if services.settings.model_dir and (Path(services.settings.model_dir) / "current").is_file():
        assert "stand-in-0" not in versions and None not in versions  # the CLI used the trained model

    # The duty desk sees the quarantine, with reasons.
    listing = _run_cli(services, ["quarantine", "list"])
    assert listing.returncode == 0
    assert "broken MIME" in listing.stdout and "no readable text" in listing.stdout


# --- crash safety ------------------------------------------------------------------------

def _env(services: Services, **extra) -> dict:
    s = services.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update({
        "TRIAGE_DATABASE_URL": s.database_url, "TRIAGE_IMAP_HOST": s.imap_host, "TRIAGE_IMAP_PORT": str(s.imap_port),
        "TRIAGE_IMAP_USER": s.imap_user, "TRIAGE_IMAP_PASSWORD": s.imap_password.get_secret_value(),
        "TRIAGE_IMAP_TLS": "false", "TRIAGE_DATA_DIR": str(s.data_dir), "TRIAGE_MODEL_DIR": str(s.model_dir),
        "TRIAGE_IMAP_MAX_BACKOFF_SECONDS": "1", "COLUMNS": "250",
    })
    env.update(extra)
    return env


def _run_cli(services: Services, args: list[str], **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUNNER), *args], env=_env(services, **env), cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_killed_between_store_and_move_then_restart_no_duplicate(sqlite_url, services_for, dovecot):  # noqa: F811
    services = services_for(sqlite_url)
    raws = [_plain(f"crash{i}@x", f"Crash test concern number {i} at Brookvale House: call bell {i} broken.")
            for i in range(5)]
    dovecot.append_many("INBOX", raws)

    killed = _run_cli(services, ["ingest", "mail", "--once"], MAIL_INGEST_KILL_AFTER_STORE="3")
    assert killed.returncode == -9  # SIGKILL: no cleanup ran
    # Three stored, the third one not moved: it is still in the inbox with its concern in the store.
    assert _concern_count(services.engine) == 3
    assert dovecot.count("Processed") == 2 and dovecot.count("INBOX") == 3

    again = _run_cli(services, ["ingest", "mail", "--once", "--json"])
    assert again.returncode == 0, again.stderr
    assert dovecot.count("INBOX") == 0 and dovecot.count("Processed") == 5
    assert _concern_count(services.engine) == 5
    rows = _rows(services.engine)
    assert len(rows) == 5 and {r.outcome for r in rows} == {"stored"}
    with Session(services.engine) as s:
        assert s.exec(select(func.count()).select_from(ConcernSource)).one() == 5
    import json
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["resumed"] == 1 and summary["stored"] == 2


def test_crash_between_concern_commit_and_row_still_one_concern(sqlite_url, services_for, dovecot):  # noqa: F811
    """If the concern committed but nothing else did, the re-run links to it (ingest is idempotent)."""
    from mail_ingest.job import run_once
    from triage.pipeline import ConcernIn, ingest_concern

    services = services_for(sqlite_url)
    raw = _plain("early@x", "Early crash concern about Meadow View: no activities for weeks.")
    from mail_ingest.parse import parse_message
    p = parse_message(raw)
    with Session(services.engine, expire_on_commit=False) as s:
        ingest_concern(session=s, services=services, concern_in=ConcernIn(
            source="email", external_id=p.key, text=p.text, clean_text=p.clean_text, sender=p.sender))
    dovecot.append("INBOX", raw)
    summary = run_once(services)
    assert summary.stored == 1 and _concern_count(services.engine) == 1
    [row] = _rows(services.engine)
    assert row.outcome == "stored" and row.concern_id is not None


def test_same_concern_forwarded_by_two_people_is_linked(sqlite_url, services_for, dovecot):  # noqa: F811
    from mail_ingest.job import run_once

    services = services_for(sqlite_url)
    msgs = dict(corpus(include_large=False))
    dovecot.append("INBOX", msgs["21_forwarded_twice_a.eml"])
    dovecot.append("INBOX", msgs["22_forwarded_twice_b.eml"])
    summary = run_once(services)
    assert (summary.stored, summary.duplicates) == (1, 1)
    with Session(services.engine) as s:
        [concern] = s.exec(select(Concern)).all()
        sources = s.exec(select(ConcernSource).where(ConcernSource.concern_id == concern.id)).all()
        assert sorted(x.relation for x in sources) == ["duplicate", "original"]
        assert {x.sender.split("<")[0].strip() for x in sources} == {"Complaints Team", "Cllr Gareth Evans"}


# --- server trouble ------------------------------------------------------------------------

def test_dovecot_restarted_mid_run_reader_recovers(sqlite_url, services_for, dovecot):  # noqa: F811
    from mail_ingest.job import run_once

    services = services_for(sqlite_url)
    raws = [_plain(f"restart{i}@x", f"Restart concern {i}: The Willows sensor mat {i} unplugged.") for i in range(6)]
    dovecot.append_many("INBOX", raws)
    restarted = []

    def hook(point, uid):
        if point == "after_move" and uid == 3 and not restarted:
            restarted.append(uid)
            dovecot.restart()  # the reader's connection drops under it

    summary = run_once(services, hook=hook)
    assert restarted and summary.reconnects >= 1
    # A message whose MOVE the server had not finished when the connection died is fetched again
    # and only moved ("resumed"); whether the MOVE landed first is a race we do not control.
    assert summary.stored == 6 and summary.resumed in (0, 1)
    assert summary.fetched == summary.stored + summary.resumed
    assert dovecot.count("INBOX") == 0 and dovecot.count("Processed") == 6
    assert _concern_count(services.engine) == 6


def test_idle_picks_up_append_and_survives_restart(sqlite_url, services_for, dovecot):  # noqa: F811
    from mail_ingest.job import run_forever

    # Polling and IDLE renewal are set far beyond the wait below, so only IDLE notices can deliver.
    services = services_for(sqlite_url, imap_poll_seconds=600, imap_idle_seconds=600, imap_idle_recheck_seconds=600)
    stop = threading.Event()
    drained = threading.Event()
    t = threading.Thread(target=run_forever, args=(services, stop),
                         kwargs={"on_drained": lambda s: drained.set()}, daemon=True)
    t.start()
    try:
        assert drained.wait(30)
        time.sleep(0.3)  # let it enter IDLE
        dovecot.append("INBOX", _plain("idle1@x", "IDLE concern: Sunrise Court lift broken again."))
        assert _wait(lambda: _concern_count(services.engine) == 1)
        assert _wait(lambda: dovecot.count("Processed") == 1)

        dovecot.restart()
        dovecot.append("INBOX", _plain("idle2@x", "After restart: Abbey Lodge fire door wedged open."))
        assert _wait(lambda: _concern_count(services.engine) == 2)
        assert _wait(lambda: dovecot.count("INBOX") == 0)
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive()


def test_polling_fallback_without_idle(sqlite_url, services_for, dovecot):  # noqa: F811
    from mail_ingest.job import run_forever

    services = services_for(sqlite_url, imap_use_idle=False, imap_poll_seconds=0.2)
    stop = threading.Event()
    t = threading.Thread(target=run_forever, args=(services, stop), daemon=True)
    t.start()
    try:
        dovecot.append("INBOX", _plain("poll1@x", "Polled concern: Hills View call bells not working."))
        assert _wait(lambda: _concern_count(services.engine) == 1)
        assert _wait(lambda: dovecot.count("Processed") == 1)
    finally:
        stop.set()
        t.join(30)


def test_copy_delete_fallback_when_move_is_not_used(sqlite_url, services_for, dovecot):  # noqa: F811
    from mail_ingest.job import run_once

    services = services_for(sqlite_url)
    msgs = dict(corpus(include_large=False))
    for name in ("01_plain_direct.eml", "12_broken_mime.eml", "15_out_of_office.eml"):
        dovecot.append("INBOX", msgs[name])
    summary = run_once(services, force_copy_delete=True)
    assert (summary.stored, summary.quarantined, summary.auto_replies) == (1, 1, 1)
    assert dovecot.count("INBOX") == 0  # expunged, not just flagged
    assert dovecot.count("Processed") == 2 and dovecot.count("Quarantine") == 1
    assert all(b"\\Deleted" not in f for f in dovecot.flags("Processed"))


def test_uidvalidity_change_resets_the_cursor(sqlite_url, services_for, dovecot):  # noqa: F811
    from mail_ingest.imap import mailbox_name
    from mail_ingest.job import run_once

    services = services_for(sqlite_url)
    dovecot.append("INBOX", _plain("uv1@x", "UIDVALIDITY concern one: Wyvern Lodge bruising."))
    run_once(services)
    with Session(services.engine) as s:
        state = s.get(MailboxState, mailbox_name(services.settings))
        # Pretend the server renumbered the folder since: a stale validity and a cursor far ahead.
        state.uidvalidity, state.last_uid = 1, 10_000
        s.add(state)
        s.commit()
    dovecot.append("INBOX", _plain("uv2@x", "UIDVALIDITY concern two: Pershore Manor weight loss."))
    summary = run_once(services)
    assert summary.stored == 1 and dovecot.count("INBOX") == 0
    with Session(services.engine) as s:
        state = s.get(MailboxState, mailbox_name(services.settings))
        assert state.uidvalidity != 1 and state.last_uid < 10_000


def test_processing_failure_quarantines_with_reason_and_release_requeues(sqlite_url, services_for, dovecot):  # noqa: F811
    """A failing classifier must not lose the message: quarantine, reason shown; release re-queues it."""
    from mail_ingest.job import run_once
    from mail_ingest.quarantine import quarantined, release

    services = services_for(sqlite_url)
    real = services.classifier

    class Broken:
        def classify(self, *a, **k):
            raise RuntimeError("model file truncated")

    services.set_classifier(Broken())
    dovecot.append("INBOX", _plain("fail1@x", "A concern about Severn View Care Home that hits a broken model."))
    summary = run_once(services)
    assert summary.quarantined == 1 and _concern_count(services.engine) == 0
    assert dovecot.count("Quarantine") == 1 and dovecot.count("INBOX") == 0
    with Session(services.engine) as s:
        [row] = quarantined(session=s)
        assert "processing failed: RuntimeError: model file truncated" in row.reason
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "mail.quarantined")).first() is not None
        row_id = row.id

    services.set_classifier(real)
    with Session(services.engine, expire_on_commit=False) as s:
        release(session=s, services=services, row_id=row_id, actor="test")
    assert dovecot.count("Quarantine") == 0 and dovecot.count("INBOX") == 1
    summary = run_once(services)
    assert summary.stored == 1 and _concern_count(services.engine) == 1
    [row] = _rows(services.engine)
    assert row.id == row_id and row.outcome == "stored" and row.resolved_at is None
    with Session(services.engine) as s:
        assert quarantined(session=s) == []


def test_cli_quarantine_show_and_release(sqlite_url, services_for, dovecot):  # noqa: F811
    services = services_for(sqlite_url)
    msgs = dict(corpus(include_large=False))
    dovecot.append("INBOX", msgs["12_broken_mime.eml"])
    assert _run_cli(services, ["ingest", "mail", "--once"]).returncode == 0
    [row] = _rows(services.engine)
    shown = _run_cli(services, ["quarantine", "show", str(row.id)])
    assert shown.returncode == 0 and "broken MIME" in shown.stdout and "Concern attached" in shown.stdout
    rel = _run_cli(services, ["quarantine", "release", str(row.id)])
    assert rel.returncode == 0, rel.stderr
    assert dovecot.count("INBOX") == 1 and dovecot.count("Quarantine") == 0
    again = _run_cli(services, ["quarantine", "release", str(row.id)])
    assert again.returncode != 0 and "already released" in again.stderr
    # Re-processed, it is still broken: back in quarantine, the same row, never deleted.
    assert _run_cli(services, ["ingest", "mail", "--once"]).returncode == 0
    assert dovecot.count("Quarantine") == 1
    [row2] = _rows(services.engine)
    assert row2.id == row.id and row2.outcome == "quarantined" and row2.resolved_at is None


def test_second_reader_is_locked_out(sqlite_url, services_for, dovecot):  # noqa: F811
    from mail_ingest.imap import mailbox_name
    from mail_ingest.job import run_once
    from triage.locks import exclusive

    services = services_for(sqlite_url)
    dovecot.append("INBOX", _plain("lock1@x", "Lock concern: Kingfisher Lodge."))
    with exclusive(f"mail:{mailbox_name(services.settings)}", engine=services.engine) as got:
        assert got
        summary = run_once(services)
    assert summary.locked_out and summary.fetched == 0 and dovecot.count("INBOX") == 1
    assert run_once(services).stored == 1


def test_messages_not_marked_read_before_stored(sqlite_url, services_for, dovecot):  # noqa: F811
    from mail_ingest.job import run_once

    services = services_for(sqlite_url)
    dovecot.append("INBOX", _plain("peek1@x", "Peek concern: Cedars & Pines lift."))
    seen_flags = []

    def hook(point, uid):
        if point == "after_store":
            seen_flags.extend(dovecot.flags("INBOX"))

    run_once(services, hook=hook)
    assert seen_flags and all(b"\\Seen" not in f for f in seen_flags)


def test_backoff_doubles_to_the_cap():
    from mail_ingest.job import backoff

    assert [backoff(n, 5.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_ingest_without_imap_settings_is_a_clear_error(sqlite_url, settings_factory, monkeypatch):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", sqlite_url)
    from triage.cli import main
    from triage.config import reset_settings_cache
    reset_settings_cache()
    result = CliRunner().invoke(main, ["ingest", "mail", "--once"])
    assert result.exit_code != 0 and "TRIAGE_IMAP_HOST" in result.output


def test_plain_imap_only_on_loopback():
    from mail_ingest.imap import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("imap.example.org") and not is_loopback("10.0.0.5") and not is_loopback(None)


def test_mail_announced_with_another_commands_answer_is_not_left_waiting(dovecot, settings_factory):  # noqa: F811
    """Dovecot reports a new message with SEARCH's answer; imaplib files it away and IDLE never repeats it.

    Without reading that filed report, the reader would IDLE (here for 600 s) with mail waiting.
    """
    from mail_ingest.imap import MailboxClient
    from mail_ingest.job import _wait_for_mail
    from triage.services import Services

    settings = settings_factory(**imap_settings(dovecot, imap_idle_seconds=600, imap_poll_seconds=600,
                                                imap_idle_recheck_seconds=600))
    services = Services(settings=settings, engine=None)
    with MailboxClient(settings) as client:
        assert client.can_idle()
        dovecot.append("INBOX", _plain("race@x", "Arrived between the last search and IDLE."))
        time.sleep(0.3)
        client.uids_after(0)  # the answer carries "* 1 EXISTS"
        stop = threading.Event()
        waiter = threading.Thread(target=_wait_for_mail, args=(client, services, stop), daemon=True)
        waiter.start()
        waiter.join(30)
        stop.set()
        assert not waiter.is_alive(), "the reader went idle although the server had already reported new mail"
