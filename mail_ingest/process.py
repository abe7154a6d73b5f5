"""One fetched message → a recorded outcome (stored / duplicate / auto_reply / quarantined).

The store side only: it commits the concern and the InboundMessage row, and the caller then
moves the message out of the inbox. Re-running it for a message already recorded (a crash
between store and move) finds the row and changes nothing, so no concern is stored twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser

from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from models import ConcernSource, InboundMessage
from triage import audit, clock
from triage.pipeline import ConcernIn, ingest_concern
from triage.services import Services

from .parse import ParsedEmail, UnparseableMessage, normalise_message_id, parse_message, raw_digest

log = logging.getLogger(__name__)

OUTCOMES = ("stored", "duplicate", "auto_reply", "quarantined")


@dataclass
class Handled:
    row: InboundMessage
    fresh: bool  # False when this message had been recorded before (a re-run after a crash)
    parsed: ParsedEmail | None = None
    reference: str | None = None


def folder_for(outcome: str, settings) -> str:
    return settings.imap_quarantine_folder if outcome == "quarantined" else settings.imap_processed_folder


def _find(session: Session, mailbox: str, key: str) -> InboundMessage | None:
    return session.exec(select(InboundMessage).where(InboundMessage.mailbox == mailbox,
                                                     InboundMessage.message_key == key)).first()


def _headers_only(raw: bytes) -> tuple[str | None, str | None, str | None]:
    """Message-ID, From, Subject of a message the full parser rejected (best effort)."""
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
        return (normalise_message_id(msg.get("Message-ID")), _s(msg.get("From")), _s(msg.get("Subject")))
    except Exception:
        return None, None, None


def _s(v) -> str | None:
    return str(v)[:500] if v is not None else None


def _is_own_address(parsed: ParsedEmail, settings) -> bool:
    own = (settings.smtp_from or "").lower()
    return bool(parsed.sender_address and own and parsed.sender_address == own.split("<")[-1].strip(">"))


def handle_message(*, session: Session, services: Services, mailbox: str, uid: int, raw: bytes) -> Handled:
    """Decide and record what becomes of one message; commits. Never moves it."""
    digest = raw_digest(raw)
    parsed: ParsedEmail | None = None
    reason: str | None = None
    try:
        parsed = parse_message(raw)
        base_key, sender, subject = parsed.key, parsed.sender, parsed.subject
    except UnparseableMessage as err:
        reason = str(err)
        mid, sender, subject = _headers_only(raw)
        base_key = mid or f"sha256:{digest}"
    except Exception as err:  # a parser bug must not lose the message: quarantine it
        reason = f"parser failure: {err.__class__.__name__}"
        mid, sender, subject = _headers_only(raw)
        base_key = mid or f"sha256:{digest}"

    # Which row is this message? The Message-ID's row, unless that one holds other bytes or
    # another UID (a second delivery with the same Message-ID), in which case a per-arrival key.
    key, row, second_arrival = base_key, None, False
    for candidate in (base_key, f"{base_key}#{uid}.{digest[:16]}"):
        key = candidate
        row = _find(session, mailbox, candidate)
        if row is None:
            break
        if row.raw_sha256 == digest and row.outcome == "quarantined" and row.resolved_at is not None:
            break  # released from quarantine by the duty desk: process it again into the same row
        if row.raw_sha256 == digest and row.uid == uid:
            return Handled(row=row, fresh=False, parsed=parsed)
        second_arrival, row = True, None
    same_bytes_as_first = second_arrival and (_find(session, mailbox, base_key).raw_sha256 == digest)

    outcome, concern_id, reference = "quarantined", None, None
    if parsed is None:
        pass
    elif parsed.auto_reply:
        outcome, reason = "auto_reply", parsed.auto_reply
    elif _is_own_address(parsed, services.settings):
        outcome, reason = "auto_reply", "sent by this product (mail loop)"
    else:
        external_id = base_key if (not second_arrival or same_bytes_as_first) else f"sha256:{digest}"
        concern_in = ConcernIn(
            source="email", external_id=external_id[:512], text=parsed.text, clean_text=parsed.clean_text,
            sender=parsed.sender, subject=parsed.subject, original_sender=parsed.original_sender,
            original_sent_at=parsed.original_sent_at, original_subject=parsed.original_subject,
            attachments=parsed.attachments, actor="mail",
        )
        try:
            result = ingest_concern(session=session, concern_in=concern_in, services=services)
        except OperationalError:
            # The store is down or locked: leave the message in the inbox for the next run.
            session.rollback()
            raise
        except Exception as err:
            session.rollback()
            log.warning("message uid=%s could not be processed: %s", uid, err.__class__.__name__,
                        exc_info=log.isEnabledFor(logging.DEBUG))
            detail = str(err).splitlines()[0][:300] if str(err) else ""
            reason = f"processing failed: {err.__class__.__name__}: {detail}"
        else:
            concern_id, reference = result.concern.id, result.concern.reference
            if result.outcome == "existing" and not second_arrival:
                # This arrival was stored before the crash; whether it was new or a link decides the outcome.
                src = session.exec(select(ConcernSource).where(ConcernSource.source == "email",
                                                               ConcernSource.external_id == external_id)).first()
                outcome = "stored" if src is not None and src.relation == "original" else "duplicate"
            else:
                outcome = "stored" if result.outcome == "stored" else "duplicate"
            reason = None

    if row is None:
        row = InboundMessage(mailbox=mailbox, message_key=key[:512])
        session.add(row)
    row.uid = uid
    row.raw_sha256 = digest
    row.sender = (sender or "")[:500] or None
    row.subject = (subject or "")[:500] or None
    row.outcome = outcome
    row.reason = reason
    row.concern_id = concern_id
    row.size = len(raw)
    row.received_at = clock.now()
    row.resolved_at = None
    session.flush()
    if outcome == "quarantined":
        audit.record(session=session, actor="mail", action="mail.quarantined", entity_type="inbound_message",
                     entity_id=row.id, details={"reason": reason, "uid": uid})
    session.commit()
    log.info("mail uid=%s outcome=%s", uid, outcome)
    return Handled(row=row, fresh=True, parsed=parsed, reference=reference)
