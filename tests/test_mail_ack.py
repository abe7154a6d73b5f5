"""Acknowledgements over a real SMTP server (aiosmtpd on loopback), never to auto-replies."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, select

from dovecot import dovecot, dovecot_server  # noqa: F401  (fixtures)
from mail_fixtures.support import corpus, imap_settings, load_register, mail_classifier
from models import Concern, InboundMessage
from triage.db import make_engine
from triage.services import Services

pytestmark = pytest.mark.dovecot

COUNCIL = "wyvernshire.example.org"


class _Inbox:
    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = _Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    ctl.start()
    yield ctl, inbox
    ctl.stop()


@pytest.fixture
def ack_services(sqlite_url, settings_factory, dovecot, smtp_server, shared_register, request):  # noqa: F811
    ctl, _ = smtp_server

    def make(**over):
        settings = settings_factory(database_url=sqlite_url, smtp_host="127.0.0.1", smtp_port=ctl.port,
                                    smtp_security="none", smtp_from=f"qa-intelligence@{COUNCIL}",
                                    **imap_settings(dovecot, **over))
        engine = make_engine(sqlite_url)
        load_register(engine, shared_register)
        svc = Services(settings=settings, engine=engine)
        svc.set_classifier(mail_classifier(request))
        return svc

    return make


def test_ack_only_to_allowed_people_never_to_auto_replies(ack_services, dovecot, smtp_server):  # noqa: F811
    from mail_ingest.job import run_once

    _, inbox = smtp_server
    services = ack_services(ack_enabled=True, ack_allowed_domains=[COUNCIL])
    msgs = dict(corpus(include_large=False))
    for name in ("01_plain_direct.eml",        # council officer: acknowledged
                 "07_iso8859_1.eml",           # Healthwatch: domain not allowed
                 "15_out_of_office.eml",       # council out-of-office: never answered
                 "27_postmaster.eml",          # bounce: never answered
                 "12_broken_mime.eml"):        # quarantined: no concern, no acknowledgement
        dovecot.append("INBOX", msgs[name])
    own = (f"From: QA Intelligence <qa-intelligence@{COUNCIL}>\r\nSubject: Received [CC-000001]\r\n"
           f"Message-ID: <loop@x>\r\n\r\nThank you. Your message has been received.\r\n").encode()
    dovecot.append("INBOX", own)  # our own acknowledgement coming back: a loop, not a concern
    system = (f"From: Case Management <casework@{COUNCIL}>\r\nSubject: New safeguarding referral\r\n"
              f"X-Auto-Response-Suppress: All\r\nMessage-ID: <referral@x>\r\n\r\n"
              f"Referral: unexplained bruising to a resident at Larch House.\r\n").encode()
    dovecot.append("INBOX", system)  # a system's notification: a concern, but never answered

    summary = run_once(services)
    assert summary.acknowledged == 1 and summary.stored == 3 and summary.auto_replies == 3

    sent = [(rcpts, message_from_bytes(data, policy=policy.default)) for _, rcpts, data in inbox.messages]
    # Every message the product sends is marked auto-generated (acknowledgements and alerts alike).
    assert sent and all(m["Auto-Submitted"] == "auto-generated" for _, m in sent)
    acks = [(r, m) for r, m in sent if m["Subject"].startswith("Received")]
    [(rcpts, ack)] = acks
    assert rcpts == [f"sam.patel@{COUNCIL}"]
    assert ack["Auto-Submitted"] == "auto-generated"
    assert ack["In-Reply-To"] == "<01.plain@wyvernshire.example.org>"
    with Session(services.engine) as s:
        concern = s.exec(select(Concern).where(Concern.external_id == "01.plain@wyvernshire.example.org")).one()
        assert concern.reference and concern.reference in ack["Subject"]
        assert concern.reference in ack.get_content()
        row = s.exec(select(InboundMessage).where(InboundMessage.concern_id == concern.id)).one()
        assert row.ack_message_id == ack["Message-ID"]
        loop = s.exec(select(InboundMessage).where(InboundMessage.message_key == "loop@x")).one()
        assert loop.outcome == "auto_reply" and "mail loop" in loop.reason
        referral = s.exec(select(InboundMessage).where(InboundMessage.message_key == "referral@x")).one()
        assert referral.outcome == "stored" and referral.ack_message_id is None
    # The acknowledgement never repeats the concern's words.
    assert "Parkinson" not in ack.get_content()


def test_no_ack_when_disabled(ack_services, dovecot, smtp_server):  # noqa: F811
    from mail_ingest.job import run_once

    _, inbox = smtp_server
    services = ack_services(ack_enabled=False, ack_allowed_domains=[COUNCIL])
    dovecot.append("INBOX", dict(corpus(include_large=False))["01_plain_direct.eml"])
    assert run_once(services).stored == 1
    subjects = [message_from_bytes(d, policy=policy.default)["Subject"] for _, _, d in inbox.messages]
    assert not any(s.startswith("Received") for s in subjects)


def test_alerts_dispatched_after_the_batch(ack_services, dovecot, smtp_server):  # noqa: F811
    """After a batch the outbox is dispatched: a concern's alert e-mail reaches the officer over SMTP."""
    from mail_ingest.job import run_once
    from models import AlertDelivery

    _, inbox = smtp_server
    services = ack_services(ack_enabled=False)
    # An allegation of abuse today: urgent by the explicit rules whatever the model says, so it is
    # alerted at once (a medium concern would wait for the daily digest).
    urgent = (f"From: Sam Patel <sam.patel@{COUNCIL}>\r\nSubject: Allegation - Brookvale House\r\n"
              f"Message-ID: <urgent.alert@x>\r\n\r\nThis morning a carer at Brookvale House hit a resident "
              f"across the face. She has a bruised cheek and is frightened.\r\n").encode()
    dovecot.append("INBOX", urgent)
    assert run_once(services).stored == 1
    with Session(services.engine) as s:
        concern = s.exec(select(Concern).where(Concern.external_id == "urgent.alert@x")).one()
        assert concern.urgency == "immediate"
        deliveries = s.exec(select(AlertDelivery).where(AlertDelivery.channel == "email")).all()
    assert deliveries, "an immediate concern must be alerted by e-mail"
    targets = {d.target for d in deliveries}
    assert {r for _, rcpts, _ in inbox.messages for r in rcpts} & targets


def test_smtp_down_does_not_lose_the_concern(sqlite_url, settings_factory, dovecot, shared_register, request):  # noqa: F811
    from mail_ingest.job import run_once

    settings = settings_factory(database_url=sqlite_url, smtp_host="127.0.0.1", smtp_port=_free_port(),
                                smtp_security="none", smtp_timeout_seconds=2,
                                **imap_settings(dovecot, ack_enabled=True, ack_allowed_domains=[COUNCIL]))
    engine = make_engine(sqlite_url)
    load_register(engine, shared_register)
    services = Services(settings=settings, engine=engine)
    services.set_classifier(mail_classifier(request))
    dovecot.append("INBOX", dict(corpus(include_large=False))["01_plain_direct.eml"])
    summary = run_once(services)
    assert summary.stored == 1 and summary.acknowledged == 0
    assert dovecot.count("INBOX") == 0 and dovecot.count("Processed") == 1
