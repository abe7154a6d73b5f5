"""The optional acknowledgement: "we have it, the reference is CQT-000123".

Only to senders in TRIAGE_ACK_ALLOWED_DOMAINS, never to an auto-reply, bounce or bulk mail
nor to a message asking not to be answered (X-Auto-Response-Suppress),
never to the product's own address; the reply carries Auto-Submitted: auto-generated and
In-Reply-To so it threads and no auto-responder answers it.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from models import InboundMessage
from triage import audit
from triage.config import Settings
from triage.notify.email import send_email

from .parse import ParsedEmail

log = logging.getLogger(__name__)


def ack_recipient(settings: Settings, parsed: ParsedEmail | None, outcome: str) -> str | None:
    """The address to acknowledge, or None when no acknowledgement may be sent."""
    if not settings.ack_enabled or not settings.smtp_enabled or parsed is None:
        return None
    if outcome not in ("stored", "duplicate") or parsed.auto_reply or parsed.no_reply:
        return None
    addr = parsed.sender_address
    if not addr or "@" not in addr:
        return None
    if addr == (settings.smtp_from or "").lower():
        return None
    domain = addr.rsplit("@", 1)[1]
    allowed = [d.lower().lstrip("@") for d in settings.ack_allowed_domains]
    if not any(domain == d or domain.endswith("." + d) for d in allowed):
        return None
    return addr


def ack_text(reference: str, subject: str | None) -> tuple[str, str]:
    subj = f"Received: {subject} [{reference}]" if subject else f"Received [{reference}]"
    body = (
        f"Thank you. Your message has been received by the quality assurance team and recorded as {reference}.\n\n"
        "Please quote this reference if you send anything further about it. If someone is at immediate risk, "
        "follow your safeguarding procedure and telephone the duty team; do not rely on this mailbox.\n\n"
        "This is an automatic acknowledgement."
    )
    return subj, body


def send_ack(*, session: Session, settings: Settings, row: InboundMessage, parsed: ParsedEmail | None,
             reference: str | None) -> str | None:
    """Send the acknowledgement if allowed; records its Message-ID on the row. Never raises."""
    to = ack_recipient(settings, parsed, row.outcome)
    if to is None or not reference or row.ack_message_id:
        return None
    subject, text = ack_text(reference, parsed.subject)
    in_reply_to = f"<{parsed.message_id}>" if parsed.message_id else None
    try:
        mid = send_email(settings, to=to, subject=subject, text=text, in_reply_to=in_reply_to)
    except Exception as err:  # the concern is stored; a missing acknowledgement is not worth failing for
        log.warning("acknowledgement not sent for inbound message %s: %s", row.id, err.__class__.__name__)
        return None
    row.ack_message_id = (mid or "")[:512] or None
    audit.record(session=session, actor="mail", action="mail.acknowledged", entity_type="inbound_message",
                 entity_id=row.id, details={"reference": reference})
    session.commit()
    return mid
