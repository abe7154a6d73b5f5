"""The quarantine: messages that could not become concerns, kept (never deleted) for the duty desk.

Releasing one moves it back to the inbox so the next run processes it again (after, say,
the classifier is fixed); its InboundMessage row is marked resolved and then reused.
"""

from __future__ import annotations

from sqlmodel import Session, select

from models import InboundMessage
from triage import audit, clock
from triage.services import Services

from .imap import MailboxClient
from .parse import raw_digest


class ReleaseError(RuntimeError):
    pass


def quarantined(*, session: Session, include_released: bool = False) -> list[InboundMessage]:
    q = select(InboundMessage).where(InboundMessage.outcome == "quarantined")
    if not include_released:
        q = q.where(InboundMessage.resolved_at.is_(None))
    return list(session.exec(q.order_by(InboundMessage.received_at, InboundMessage.id)).all())


def release(*, session: Session, services: Services, row_id: int, actor: str = "system") -> InboundMessage:
    """Move a quarantined message back to the inbox for re-processing."""
    row = session.get(InboundMessage, row_id)
    if row is None or row.outcome != "quarantined":
        raise ReleaseError(f"no quarantined message with id {row_id}")
    if row.resolved_at is not None:
        raise ReleaseError(f"message {row_id} was already released")
    s = services.settings
    with MailboxClient(s) as client:
        c = client.client
        c.select_folder(s.imap_quarantine_folder)
        candidates: list[int] = []
        if not row.message_key.startswith("sha256:"):
            mid = row.message_key.split("#", 1)[0]
            candidates = list(c.search(["HEADER", "Message-ID", mid]))
        if not candidates:
            candidates = list(c.search("ALL"))
        found = None
        for uid in sorted(candidates):
            data = c.fetch([uid], ["BODY.PEEK[]"]).get(uid, {})
            if b"BODY[]" in data and raw_digest(data[b"BODY[]"]) == row.raw_sha256:
                found = uid
                break
        if found is None:
            raise ReleaseError(f"message {row_id} is not in the {s.imap_quarantine_folder} folder any more")
        client.move(found, s.imap_folder)
    row.resolved_at = clock.now()
    audit.record(session=session, actor=actor, action="mail.released", entity_type="inbound_message",
                 entity_id=row.id, details={"reason": row.reason})
    session.commit()
    return row
