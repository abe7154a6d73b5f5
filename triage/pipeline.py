"""From an arrival (email, Slack post, manual entry) to a stored, classified, routed concern.

Every channel calls `ingest_concern`; it is idempotent on the arrival's key, so a crash
anywhere before the caller's acknowledgement (IMAP move, Slack reply) re-processes
without a duplicate.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from models import Alert, Concern, ConcernLocation, ConcernSource, Location

from . import audit, clock
from .services import Services

log = logging.getLogger(__name__)

# A second forward of the same text within this window is linked, not stored again.
DUPLICATE_WINDOW = timedelta(days=30)


@dataclass
class ConcernIn:
    source: str  # email | slack | manual | import
    external_id: str  # Message-ID, "slack:<channel>:<ts>", ...
    text: str  # as received: the whole body, quoted parts and all
    received_at: datetime | None = None
    sender: str | None = None
    subject: str | None = None
    channel: str | None = None
    clean_text: str | None = None  # the ingester's cleaned text; else triage.text cleans `text`
    original_sender: str | None = None
    original_sent_at: str | None = None
    original_subject: str | None = None
    attachments: list[dict] = field(default_factory=list)
    slack_channel: str | None = None
    slack_ts: str | None = None
    actor: str = "system"


@dataclass
class IngestResult:
    concern: Concern
    # stored: new concern; duplicate: same text arrived before, linked to it;
    # existing: this very arrival was processed before (a retry or a crash re-run)
    outcome: str
    alerts: list[Alert] = field(default_factory=list)


def content_hash(text: str) -> str:
    norm = re.sub(r"\W+", " ", text.lower()).strip()
    return hashlib.sha256(norm.encode()).hexdigest()


def next_reference(concern_id: int, prefix: str) -> str:
    return f"{prefix}-{concern_id:06d}"


def find_arrival(*, session: Session, source: str, external_id: str) -> Concern | None:
    row = session.exec(
        select(ConcernSource).where(ConcernSource.source == source, ConcernSource.external_id == external_id)
    ).first()
    return session.get(Concern, row.concern_id) if row else None


def ingest_concern(*, session: Session, concern_in: ConcernIn, services: Services) -> IngestResult:
    """Store, classify, score and route one arrival; commits. Notifications go out after commit."""
    from .text import clean_text

    existing = find_arrival(session=session, source=concern_in.source, external_id=concern_in.external_id)
    if existing is not None:
        return IngestResult(existing, "existing")

    now = clock.now()
    received = concern_in.received_at or now
    cleaned = concern_in.clean_text if concern_in.clean_text is not None else clean_text(concern_in.text)
    digest = content_hash(cleaned or concern_in.text)

    first = session.exec(
        select(Concern)
        .where(Concern.content_hash == digest, Concern.received_at >= received - DUPLICATE_WINDOW)
        .order_by(Concern.id)
    ).first()
    if first is not None:
        session.add(ConcernSource(concern_id=first.id, source=concern_in.source, external_id=concern_in.external_id,
                                  sender=concern_in.sender, received_at=received, relation="duplicate"))
        audit.record(session=session, actor=concern_in.actor, action="concern.duplicate_linked",
                     entity_type="concern", entity_id=first.id, details={"source": concern_in.source})
        session.flush()
        # Idempotent: refreshes the alert's list of sources (e.g. now email + Slack), sends nothing new.
        alerts = after_labels_changed(session=session, concern=first, services=services)
        session.commit()
        return IngestResult(first, "duplicate", alerts)

    concern = Concern(
        source=concern_in.source, external_id=concern_in.external_id, content_hash=digest, received_at=received,
        sender=concern_in.sender, subject=concern_in.subject, channel=concern_in.channel,
        original_sender=concern_in.original_sender, original_sent_at=concern_in.original_sent_at,
        original_subject=concern_in.original_subject, raw_text=concern_in.text, clean_text=cleaned,
        attachments=concern_in.attachments, slack_channel=concern_in.slack_channel, slack_ts=concern_in.slack_ts,
        status="open", created_at=now, updated_at=now,
    )
    session.add(concern)
    session.flush()
    concern.reference = next_reference(concern.id, services.settings.reference_prefix)
    session.add(ConcernSource(concern_id=concern.id, source=concern_in.source, external_id=concern_in.external_id,
                              sender=concern_in.sender, received_at=received, relation="original"))
    classify_concern(session=session, concern=concern, services=services)
    audit.record(session=session, actor=concern_in.actor, action="concern.created", entity_type="concern",
                 entity_id=concern.id, details={"source": concern.source, "reference": concern.reference,
                                                "urgency": concern.urgency, "model_version": concern.model_version})
    alerts = after_labels_changed(session=session, concern=concern, services=services)
    session.commit()
    log.info("concern stored", extra={"ctx_concern": concern.reference, "ctx_source": concern.source,
                                      "ctx_urgency": concern.urgency, "ctx_alerts": len(alerts)})
    return IngestResult(concern, "stored", alerts)


def classify_concern(*, session: Session, concern: Concern, services: Services) -> None:
    """Run the classifier and store its output as the labels in force."""
    result = services.classifier.classify(
        concern.clean_text, subject=concern.subject, sender=concern.sender, session=session, cleaned=True,
    )
    out = result.to_dict()
    concern.classification = out
    concern.model_version = out.get("model_version")
    set_labels(session=session, concern=concern, labels=out,
               confidences=out.get("confidence", {}).get("providers", {}))
    concern.labels_source = "model"


def set_labels(*, session: Session, concern: Concern, labels: dict, confidences: dict | None = None) -> None:
    concern.urgency = labels["urgency"]
    concern.domains = list(labels["domains"])
    concern.topics = list(labels["topics"])
    concern.safeguarding = list(labels["safeguarding"])
    concern.updated_at = clock.now()
    wanted = [p for p in labels["providers"] if session.get(Location, p) is not None]
    for link in session.exec(select(ConcernLocation).where(ConcernLocation.concern_id == concern.id)).all():
        if link.location_id not in wanted:
            session.delete(link)
    have = {link.location_id for link in session.exec(
        select(ConcernLocation).where(ConcernLocation.concern_id == concern.id)).all()}
    for loc in wanted:
        if loc not in have:
            session.add(ConcernLocation(concern_id=concern.id, location_id=loc,
                                        confidence=float((confidences or {}).get(loc, 1.0))))
    session.flush()


def concern_location_ids(*, session: Session, concern: Concern) -> list[str]:
    return [link.location_id for link in session.exec(
        select(ConcernLocation).where(ConcernLocation.concern_id == concern.id)).all()]


def after_labels_changed(*, session: Session, concern: Concern, services: Services) -> list[Alert]:
    """Re-score the homes concerned and route alerts (risk module); returns the alerts touched."""
    from .risk.service import on_concern_changed

    return on_concern_changed(session=session, concern=concern, services=services)
