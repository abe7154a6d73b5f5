"""End to end: the real service against Dovecot, an aiosmtpd sink, the Slack stand-in, SQLite and PostgreSQL.

An urgent safeguarding email APPENDed to the mailbox, and a Slack post, each become a stored
concern, a Slack DM and an email to the right officer, an escalation to the officer's manager
when nobody acknowledges, and a changed risk rating.
"""

from __future__ import annotations

import json
import time
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from pydantic import SecretStr
from sqlmodel import Session, select

from dovecot import dovecot, dovecot_server  # noqa: F401  (fixtures)
from models import Alert, Concern, ConcernLocation, Officer, RiskAssessment
from slack_stub import SlackStub
from triage.demo import import_demo_register
from triage.devtools.slack_signing import signed_headers
from triage.devtools.smtp_sink import SmtpSink
from triage.risk.assess import current_assessment
from triage.serve import start_service
from triage.services import Services

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

LARCH_HOUSE = "1-7407059093"  # Severnshire demo register: QMO1's portfolio, manager MGR1
BEECHES_WRENFORD = "1-4744537445"  # QMO2's portfolio, manager MGR1
SECRET = "e2e-signing-secret-0123456789abcdef"
CHANNEL = "C0E2EPARTNER"


def _wait(cond, timeout=60.0, what="condition"):
    # A generous limit for a slow CI machine; not a speed assertion.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    value = cond()
    assert value, f"timed out waiting for {what}"
    return value


@pytest.fixture
def stack(db_url, dovecot, settings_factory, trained_classifier):  # noqa: F811
    from triage.db import make_engine

    engine = make_engine(db_url)
    with Session(engine) as s:
        import_demo_register(session=s)
        officers = {o.officer_id: o for o in s.exec(select(Officer)).all()}
    stub = SlackStub(token="xoxb-e2e", users={o.slack_user_id: o.name for o in officers.values()},
                     channels={CHANNEL: "partner-intel"}, shared_channels=(CHANNEL,)).start()
    stub.add_user("U0E2EPOSTER", "Dee Nurse")
    sink = SmtpSink().start()
    settings = settings_factory(
        database_url=db_url, imap_host=dovecot.host, imap_port=dovecot.port, imap_user=dovecot.user,
        imap_password=SecretStr(dovecot.password), imap_tls=False, imap_use_idle=True,
        smtp_host=sink.host, smtp_port=sink.port, smtp_security="none",
        slack_bot_token=SecretStr("xoxb-e2e"), slack_signing_secret=SecretStr(SECRET), slack_api_url=stub.url,
        http_port=0, escalation_immediate_minutes=0.05, escalation_duty_minutes=10, alert_dispatch_seconds=1,
    )
    services = Services(settings=settings, engine=engine)
    services.set_classifier(trained_classifier)
    with Session(engine) as s:
        before = {loc: (current_assessment(session=s, location_id=loc) or RiskAssessment(
            location_id=loc, score=0.0, rating="green")).score for loc in (LARCH_HOUSE, BEECHES_WRENFORD)}
    running = start_service(settings, services=services)
    yield {"engine": engine, "stub": stub, "sink": sink, "running": running, "officers": officers,
           "dovecot": dovecot, "before": before}
    running.stop()
    sink.stop()
    stub.stop()
    engine.dispose()


def _concern_about(engine, location_id, source):
    with Session(engine) as s:
        return s.exec(select(Concern).join(ConcernLocation, ConcernLocation.concern_id == Concern.id)
                      .where(ConcernLocation.location_id == location_id, Concern.source == source)).first()


def _dms_to(stub, user_id):
    return [c for c in stub.calls_to("chat.postMessage") if c.get("channel") in (user_id, stub.dm_channel(user_id))]


def _assert_whole_path(st, *, location_id, source, officer_id):
    engine, stub, sink, officers = st["engine"], st["stub"], st["sink"], st["officers"]
    concern = _wait(lambda: _concern_about(engine, location_id, source), what=f"{source} concern stored")
    assert concern.urgency == "immediate", concern.classification
    assert concern.safeguarding, "an abuse allegation carries a safeguarding category"
    officer = officers[officer_id]
    manager = officers[officer.manager_id]
    _wait(lambda: _dms_to(stub, officer.slack_user_id), what="Slack DM to the officer")
    dm_text = _dms_to(stub, officer.slack_user_id)[0].text_of_blocks()
    assert concern.reference in dm_text
    _wait(lambda: [m for m in sink.messages if officer.email in m.recipients], what="email to the officer")
    mail = next(m for m in sink.messages if officer.email in m.recipients)
    assert mail.message["Auto-Submitted"] == "auto-generated"
    # Nobody acknowledges: after the (shortened) delay the manager is paged.
    _wait(lambda: _dms_to(stub, manager.slack_user_id), timeout=90, what="escalation DM to the manager")
    with Session(engine) as s:
        esc = s.exec(select(Alert).where(Alert.kind == "escalation", Alert.recipient_id == manager.officer_id)).all()
        assert esc, "an escalation alert is recorded"
        after = current_assessment(session=s, location_id=location_id)
    assert after is not None and after.score > st["before"][location_id]
    assert after.rating in ("amber", "red")


def test_urgent_email_reaches_officer_escalates_and_changes_risk(stack):
    msg = EmailMessage()
    msg["From"] = "Kim Roberts <kim.roberts@severnshire-nhs.example.org>"
    msg["To"] = "qa-intelligence@severnshire.example.org"
    msg["Subject"] = "URGENT safeguarding - Larch House, Kingsmere"
    msg["Message-ID"] = make_msgid(domain="e2e.example.org")
    msg.set_content(
        "Hi team,\n\nI visited Larch House in Kingsmere this morning. Mrs D told me a carer slapped her across the "
        "face last night and pushed her back onto the bed when she asked for the toilet. She has fresh bruising "
        "to her cheek and upper arm. The carer is on shift again tonight. I have told the nurse in charge and "
        "I'm raising a safeguarding concern now.\n\nKim Roberts\nDistrict Nurse\n")
    stack["dovecot"].append("INBOX", bytes(msg))
    _assert_whole_path(stack, location_id=LARCH_HOUSE, source="email", officer_id="QMO1")
    assert stack["dovecot"].count("INBOX") == 0 and stack["dovecot"].count("Processed") == 1


def test_urgent_slack_post_reaches_officer_escalates_and_changes_risk(stack):
    ts = f"{int(time.time())}.000100"
    payload = {"token": "x", "team_id": "T0STUB", "api_app_id": "A0E2E", "type": "event_callback",
               "event_id": "Ev0E2E0001", "event_time": int(time.time()),
               "event": {"type": "message", "channel": CHANNEL, "user": "U0E2EPOSTER", "ts": ts, "event_ts": ts,
                         "channel_type": "channel",
                         "text": "Urgent - just left The Beeches in Wrenford. Saw a night carer drag an elderly resident "
                                 "down the corridor by her arm and shout at her to shut up. She has bruises on "
                                 "both wrists. The carer is still on shift. Raising a safeguarding alert now."}}
    body = json.dumps(payload).encode()
    req = urllib.request.Request(f"{stack['running'].url}/slack/events", data=body,
                                 headers=signed_headers(SECRET, body), method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    _assert_whole_path(stack, location_id=BEECHES_WRENFORD, source="slack", officer_id="QMO2")
    replies = [c for c in stack["stub"].calls_to("chat.postMessage") if c.get("channel") == CHANNEL]
    assert len(replies) == 1 and replies[0].get("thread_ts") == ts
