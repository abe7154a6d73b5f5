"""Write to the append-only audit trail. Details must never hold message bodies."""

from __future__ import annotations

from sqlmodel import Session

from models import AuditEvent

from . import clock


def record(*, session: Session, actor: str, action: str, entity_type: str, entity_id, details: dict | None = None) -> AuditEvent:
    event = AuditEvent(
        at=clock.now(),
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        details=details or None,
    )
    session.add(event)
    return event
