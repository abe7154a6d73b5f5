"""An officer's view of a concern overrides the model's: corrections, "not a concern", withdrawal.

Each change updates the labels in force, goes in the audit log (old → new) and re-routes the
concern; corrections and "not a concern" are also kept as labelled examples for the next
retrain. Every function commits; the caller dispatches alert deliveries afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from models import Alert, Concern, LabelledExample

from . import audit, clock, pipeline
from .services import Services

LABEL_KEYS = ("providers", "domains", "topics", "safeguarding", "urgency")


class CorrectionError(ValueError):
    pass


@dataclass
class CorrectionResult:
    concern: Concern
    changed: bool
    old: dict
    new: dict
    alerts: list[Alert] = field(default_factory=list)


def current_labels(*, session: Session, concern: Concern) -> dict:
    return {
        "providers": sorted(pipeline.concern_location_ids(session=session, concern=concern)),
        "domains": sorted(concern.domains or []),
        "topics": sorted(concern.topics or []),
        "safeguarding": sorted(concern.safeguarding or []),
        "urgency": concern.urgency or "none",
    }


def normalise_labels(labels: dict) -> dict:
    missing = [k for k in LABEL_KEYS if k not in labels]
    if missing:
        raise CorrectionError(f"labels lack {', '.join(missing)}")
    return {
        "providers": sorted(dict.fromkeys(labels["providers"] or [])),
        "domains": sorted(dict.fromkeys(labels["domains"] or [])),
        "topics": sorted(dict.fromkeys(labels["topics"] or [])),
        "safeguarding": sorted(dict.fromkeys(labels["safeguarding"] or [])),
        "urgency": labels["urgency"] or "none",
    }


def _keep_example(*, session: Session, concern: Concern, labels: dict, actor: str) -> None:
    session.add(LabelledExample(concern_id=concern.id, text=concern.clean_text or concern.raw_text,
                                subject=concern.subject, source=concern.source, labels=labels,
                                labelled_by=actor[:64], created_at=clock.now()))


def apply_correction(*, session: Session, concern: Concern, labels: dict, actor: str, services: Services) -> CorrectionResult:
    """Set the officer's labels on the concern, audit old → new, keep a training example, re-route."""
    new = normalise_labels(labels)
    old = current_labels(session=session, concern=concern)
    old_status = concern.status
    pipeline.set_labels(session=session, concern=concern, labels=new)
    concern.labels_source = "officer"
    concern.corrected_by = actor[:64]
    concern.corrected_at = clock.now()
    # An officer who gives a "not a concern" real tags again has changed their mind.
    if concern.status == "not_concern" and new["urgency"] != "none":
        concern.status = "open"
    session.add(concern)
    changed = old != new
    details = {"old": old, "new": new}
    if concern.status != old_status:
        details["status"] = {"old": old_status, "new": concern.status}
    audit.record(session=session, actor=actor, action="concern.corrected" if changed else "concern.labels_confirmed",
                 entity_type="concern", entity_id=concern.id, details=details)
    # A confirmation is as useful to the next retrain as a correction.
    _keep_example(session=session, concern=concern, labels=new, actor=actor)
    alerts = pipeline.after_labels_changed(session=session, concern=concern, services=services)
    session.commit()
    return CorrectionResult(concern, changed, old, new, alerts)


def mark_not_concern(*, session: Session, concern: Concern, actor: str, services: Services) -> CorrectionResult:
    """The post is not a concern: status not_concern, labels cleared to urgency none, example kept.

    The home links stay (the post did mention the home) so the example still teaches provider linking.
    """
    old = current_labels(session=session, concern=concern)
    new = {"providers": old["providers"], "domains": [], "topics": [], "safeguarding": [], "urgency": "none"}
    old_status = concern.status
    pipeline.set_labels(session=session, concern=concern, labels=new)
    concern.status = "not_concern"
    concern.labels_source = "officer"
    concern.corrected_by = actor[:64]
    concern.corrected_at = clock.now()
    session.add(concern)
    audit.record(session=session, actor=actor, action="concern.not_concern", entity_type="concern",
                 entity_id=concern.id, details={"old": old, "new": new,
                                                "status": {"old": old_status, "new": "not_concern"}})
    _keep_example(session=session, concern=concern, labels=new, actor=actor)
    alerts = pipeline.after_labels_changed(session=session, concern=concern, services=services)
    session.commit()
    return CorrectionResult(concern, True, old, new, alerts)


def withdraw(*, session: Session, concern: Concern, actor: str, services: Services, why: str) -> CorrectionResult:
    """The source took the report back (a deleted Slack post): withdrawn, re-scored; no training example,
    because a deletion says nothing about what the labels should have been."""
    labels = current_labels(session=session, concern=concern)
    old_status = concern.status
    if old_status == "withdrawn":
        return CorrectionResult(concern, False, labels, labels)
    concern.status = "withdrawn"
    concern.updated_at = clock.now()
    session.add(concern)
    audit.record(session=session, actor=actor, action="concern.withdrawn", entity_type="concern",
                 entity_id=concern.id, details={"status": {"old": old_status, "new": "withdrawn"}, "why": why})
    alerts = pipeline.after_labels_changed(session=session, concern=concern, services=services)
    session.commit()
    return CorrectionResult(concern, True, labels, labels, alerts)


def reclassify_edited(*, session: Session, concern: Concern, text: str, actor: str, services: Services) -> CorrectionResult:
    """The source edited the post: new text, new prediction. An officer's correction stays in force
    (the new prediction is kept beside it in `classification`) because the officer read the report."""
    from .text import clean_text

    old = current_labels(session=session, concern=concern)
    concern.raw_text = text
    concern.clean_text = clean_text(text)
    concern.content_hash = pipeline.content_hash(concern.clean_text or text)
    kept = concern.labels_source == "officer"
    if kept:
        result = services.classifier.classify(concern.clean_text, subject=concern.subject, sender=concern.sender,
                                              session=session, cleaned=True)
        out = result.to_dict()
        concern.classification = out
        concern.model_version = out.get("model_version")
        concern.updated_at = clock.now()
    else:
        pipeline.classify_concern(session=session, concern=concern, services=services)
    session.add(concern)
    new = current_labels(session=session, concern=concern)
    audit.record(session=session, actor=actor, action="concern.edited", entity_type="concern", entity_id=concern.id,
                 details={"old": old, "new": new, "model_version": concern.model_version,
                          "officer_labels_kept": kept})
    alerts = pipeline.after_labels_changed(session=session, concern=concern, services=services)
    session.commit()
    return CorrectionResult(concern, old != new, old, new, alerts)
