"""Plain words for an alert (email subject/text/html). References and labels only, never message text."""

from __future__ import annotations

import html as _html

from sqlmodel import Session

from models import Alert, Location, Officer
from triage.config import Settings

KIND_TITLE = {"concern": "Concern", "escalation": "ESCALATION", "early_warning": "Early warning",
              "sister_flag": "Sister home flag"}


def _home_names(session: Session, ids: list[str]) -> list[str]:
    out = []
    for lid in ids:
        loc = session.get(Location, lid)
        out.append(f"{loc.name} ({lid})" if loc else lid)
    return out


def alert_lines(*, session: Session, alert: Alert, settings: Settings) -> tuple[str, list[str]]:
    d = alert.details or {}
    homes = _home_names(session, d.get("location_ids") or ([alert.location_id] if alert.location_id else []))
    title = KIND_TITLE.get(alert.kind, alert.kind)
    urgency = f"{alert.urgency} " if alert.urgency else ""
    where = ", ".join(homes) or "no known home"
    refs = [c.get("reference") or str(c.get("id")) for c in d.get("concerns", [])]
    subject = f"{title}: {urgency}{where}"
    if refs:
        subject += f" ({', '.join(refs[:3])}{'…' if len(refs) > 3 else ''})"
    status = {"acknowledged": f"ACKNOWLEDGED by {alert.acknowledged_by} at "
                              f"{alert.acknowledged_at.isoformat(timespec='minutes') if alert.acknowledged_at else ''}",
              "cancelled": f"CANCELLED ({d.get('cancelled_because', '')})"}.get(alert.status)
    lines = []
    if status:
        lines.append(f"Status: {status}")
        subject = f"[{alert.status}] {subject}"
    lines.append(f"{title} for you ({alert.reason.replace('_', ' ')}): {where}")
    if alert.urgency:
        lines.append(f"Urgency: {alert.urgency}")
    if alert.kind == "escalation":
        frm = session.get(Officer, d.get("escalated_from_officer") or "")
        lines.append(f"Not acknowledged by {frm.name if frm else d.get('escalated_from_officer')} after "
                     f"{d.get('unacknowledged_minutes', '?')} minutes (escalation level {alert.escalation_level}).")
    for r in d.get("reasons") or []:
        lines.append(f"Why: {r}")
    for c in d.get("concerns", []):
        tags = ", ".join((c.get("topics") or []) + [f"safeguarding:{s}" for s in c.get("safeguarding") or []])
        url = settings.concern_url_template.format(reference=c.get("reference") or "", id=c.get("id"))
        lines.append(f"- {c.get('reference')} via {c.get('source')} [{c.get('urgency')}] {tags} {url}".rstrip())
    if len(d.get("sources") or []) > 1:
        lines.append(f"Reported through: {', '.join(d['sources'])} (grouped as one incident)")
    if d.get("reassigned_to"):
        lines.append(f"Reassigned to {d['reassigned_to']}.")
    if alert.status == "open" and alert.kind in ("concern", "escalation"):
        lines.append(f"Acknowledge: triage alerts ack {alert.id} (or the button in Slack)")
    return subject, lines


def alert_email(*, session: Session, alert: Alert, settings: Settings) -> tuple[str, str, str]:
    subject, lines = alert_lines(session=session, alert=alert, settings=settings)
    text = "\n".join(lines) + "\n\nThis message was sent automatically by Care Concern Triage.\n"
    body = "".join(f"<p>{_html.escape(line)}</p>" for line in lines)
    html = f"<html><body>{body}<p><small>Sent automatically by Care Concern Triage.</small></p></body></html>"
    return subject, text, html
