"""Daily digest of medium/low concerns per officer, and the weekly portfolio summary.

Sent by email and Slack DM (each optional by settings). Each goes once per officer per day
(per week): the audit trail records it and is checked first, so a re-run sends nothing twice.
"""

from __future__ import annotations

import html as _html
import logging
from datetime import datetime, timedelta

from sqlmodel import Session, select

from models import Alert, AlertConcern, AuditEvent, Concern, Location, Officer
from triage import audit, clock
from triage.services import Services

from .alerts import INACTIVE_STATUSES, slack_configured
from .assess import score_at
from .matrix import matrix_rows

log = logging.getLogger(__name__)

DIGEST_URGENCIES = ("medium", "low")


def digest_items(*, session: Session, officer_id: str, since: datetime, until: datetime) -> list[dict]:
    rows = session.exec(
        select(Concern, Alert).join(AlertConcern, AlertConcern.concern_id == Concern.id)
        .join(Alert, Alert.id == AlertConcern.alert_id)
        .where(Alert.recipient_id == officer_id, Alert.kind == "concern", Concern.urgency.in_(DIGEST_URGENCIES),
               Concern.received_at >= since, Concern.received_at < until, Concern.status.not_in(INACTIVE_STATUSES))
        .order_by(Concern.received_at)
    ).all()
    seen, out = set(), []
    for c, a in rows:
        if c.id in seen or a.urgency in ("immediate", "high"):
            continue  # already delivered at once as part of an urgent alert
        seen.add(c.id)
        homes = [session.get(Location, lid) for lid in (a.details or {}).get("location_ids") or []]
        out.append({"reference": c.reference, "urgency": c.urgency, "source": c.source,
                    "received_at": c.received_at, "homes": [h.name for h in homes if h] or ["no known home"],
                    "tags": list(c.topics or []) + [f"safeguarding:{s}" for s in c.safeguarding or []],
                    "concern_id": c.id})
    return out


def _already(session: Session, action: str, officer_id: str, key: str) -> bool:
    rows = session.exec(select(AuditEvent).where(AuditEvent.action == action, AuditEvent.entity_id == officer_id)
                        .order_by(AuditEvent.id.desc()).limit(20)).all()
    return any((e.details or {}).get("key") == key for e in rows)


def _deliver(*, services: Services, officer: Officer, subject: str, text: str, html: str) -> list[str]:
    settings = services.settings
    channels = []
    if settings.alert_via_email and settings.smtp_enabled and officer.email:
        from triage.notify.email import send_email

        send_email(settings, to=officer.email, subject=subject, text=text, html=html)
        channels.append("email")
    client = services.slack_client
    if settings.alert_via_slack and slack_configured(settings) and client is not None and officer.slack_user_id:
        client.chat_postMessage(channel=officer.slack_user_id, text=f"*{subject}*\n{text}", unfurl_links=False)
        channels.append("slack")
    return channels


def render_digest(*, officer: Officer, items: list[dict], day: str, settings) -> tuple[str, str, str]:
    subject = f"Daily digest {day}: {len(items)} medium/low concern{'s' if len(items) != 1 else ''}"
    lines = [f"Good morning {officer.name}. New medium and low concerns for your homes in the last day:", ""]
    for it in items:
        url = settings.concern_url_template.format(reference=it["reference"] or "", id=it["concern_id"])
        lines.append(f"- {it['reference']} [{it['urgency']}] {', '.join(it['homes'])} "
                     f"({', '.join(it['tags']) or 'no tags'}) via {it['source']} {url}")
    text = "\n".join(lines) + "\n"
    html = "<html><body><p>" + _html.escape(lines[0]) + "</p><ul>" + "".join(
        f"<li>{_html.escape(line[2:])}</li>" for line in lines[2:]) + "</ul></body></html>"
    return subject, text, html


def send_daily_digests(*, session: Session, services: Services, now: datetime | None = None) -> int:
    """One digest per officer with something in it; returns how many officers got one."""
    now = now or clock.now()
    day = now.date().isoformat()
    sent = 0
    for officer in session.exec(select(Officer).where(Officer.active == True).order_by(Officer.officer_id)).all():  # noqa: E712
        if _already(session, "digest.daily_sent", officer.officer_id, day):
            continue
        items = digest_items(session=session, officer_id=officer.officer_id, since=now - timedelta(days=1), until=now)
        if not items:
            continue
        subject, text, html = render_digest(officer=officer, items=items, day=day, settings=services.settings)
        try:
            channels = _deliver(services=services, officer=officer, subject=subject, text=text, html=html)
        except Exception as err:
            log.warning("digest failed", extra={"ctx_officer": officer.officer_id, "ctx_error": err.__class__.__name__})
            continue
        if channels:
            audit.record(session=session, actor="system:digest", action="digest.daily_sent", entity_type="officer",
                         entity_id=officer.officer_id, details={"key": day, "items": len(items), "channels": channels,
                                                                 "references": [i["reference"] for i in items]})
            session.commit()
            sent += 1
    return sent


def weekly_summary(*, session: Session, services: Services, officer: Officer, now: datetime) -> tuple[str, str, str] | None:
    rows = matrix_rows(session=session, settings=services.settings, officer_id=officer.officer_id, now=now)
    if not rows:
        return None
    week_ago = now - timedelta(days=7)
    lines = [f"Weekly portfolio summary for {officer.name} ({len(rows)} homes)", ""]
    for r in rows:
        before = score_at(session=session, location_id=r["location_id"], when=week_ago)
        delta = r["score"] - (before.score if before else 0.0)
        top = "; ".join(f"{f['name']} ({f['points']:g})" for f in r["top_factors"][:2]) or "nothing notable"
        lines.append(f"- {r['rating'].upper():5} {r['score']:5.1f} ({delta:+.1f} this week) {r['name']} "
                     f"[{r['location_id']}]: {r['open_concerns']} open concerns; {top}")
    open_alerts = session.exec(select(Alert).where(Alert.recipient_id == officer.officer_id,
                                                   Alert.status == "open")).all()
    lines += ["", f"Open alerts awaiting acknowledgement: {len(open_alerts)}"]
    subject = f"Weekly portfolio summary: {sum(r['rating'] == 'red' for r in rows)} red, " \
              f"{sum(r['rating'] == 'amber' for r in rows)} amber of {len(rows)} homes"
    text = "\n".join(lines) + "\n"
    html = "<html><body><pre>" + _html.escape(text) + "</pre></body></html>"
    return subject, text, html


def send_weekly_summaries(*, session: Session, services: Services, now: datetime | None = None) -> int:
    now = now or clock.now()
    iso = now.isocalendar()
    key = f"{iso[0]}-W{iso[1]:02d}"
    sent = 0
    for officer in session.exec(select(Officer).where(Officer.active == True).order_by(Officer.officer_id)).all():  # noqa: E712
        if _already(session, "digest.weekly_sent", officer.officer_id, key):
            continue
        built = weekly_summary(session=session, services=services, officer=officer, now=now)
        if built is None:
            continue
        try:
            channels = _deliver(services=services, officer=officer, subject=built[0], text=built[1], html=built[2])
        except Exception as err:
            log.warning("weekly summary failed", extra={"ctx_officer": officer.officer_id,
                                                         "ctx_error": err.__class__.__name__})
            continue
        if channels:
            audit.record(session=session, actor="system:digest", action="digest.weekly_sent", entity_type="officer",
                         entity_id=officer.officer_id, details={"key": key, "channels": channels})
            session.commit()
            sent += 1
    return sent
