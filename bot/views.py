"""From rows in the store to the plain values `bot.blocks` renders. Reads only."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from models import (Alert, AlertDelivery, Concern, ConcernLocation, CqcRating, Location, Officer,
                    PortfolioAssignment, RiskAssessment)
from triage import clock
from triage.config import Settings

from . import blocks

KEY_QUESTION_ORDER = ("overall", "safe", "effective", "caring", "responsive", "well-led")
OPEN_STATUSES = ("open", "acknowledged")


# --- people -----------------------------------------------------------------------------------

def officer_for_slack_user(*, session: Session, user_id: str | None) -> Officer | None:
    if not user_id:
        return None
    return session.exec(select(Officer).where(Officer.slack_user_id == user_id, Officer.active == True)  # noqa: E712
                        .order_by(Officer.officer_id)).first()


def actor_for(*, session: Session, user_id: str | None) -> str:
    """Audit actor: the officer's ID when the Slack user is a known officer, else slack:<user>."""
    officer = officer_for_slack_user(session=session, user_id=user_id)
    return officer.officer_id if officer else f"slack:{user_id or 'unknown'}"


def slack_user_of(*, session: Session, actor: str | None) -> str | None:
    """The Slack user behind an audit actor, for an @-mention; None when there is none."""
    if not actor:
        return None
    if actor.startswith("slack:"):
        return actor.split(":", 1)[1]
    officer = session.get(Officer, actor)
    return officer.slack_user_id if officer and officer.slack_user_id else None


def actor_display(*, session: Session, actor: str | None) -> str | None:
    if not actor:
        return None
    user = slack_user_of(session=session, actor=actor)
    if user:
        return user
    officer = session.get(Officer, actor)
    return officer.name if officer else actor


# --- homes ------------------------------------------------------------------------------------

def location_display(loc: Location) -> str:
    return f"{loc.name}, {loc.town}" if loc.town else loc.name


def concern_homes(*, session: Session, concern_id: int) -> list[Location]:
    return list(session.exec(select(Location).join(ConcernLocation, ConcernLocation.location_id == Location.location_id)
                             .where(ConcernLocation.concern_id == concern_id).order_by(Location.name)).all())


def search_homes(*, session: Session, query: str, limit: int = 100) -> list[tuple[str, str]]:
    """For the external selects: ID, name, former name or town containing the query."""
    q = (query or "").strip().lower()
    rows = session.exec(select(Location).order_by(Location.name)).all()
    out = []
    for loc in rows:
        hay = " ".join([loc.location_id, loc.name, loc.town or "", *loc.also_known_as]).lower()
        if not q or q in hay:
            out.append((loc.location_id, location_display(loc)))
    # Monitored homes first: they are the ones officers correct towards.
    monitored = {loc.location_id for loc in rows if loc.monitored}
    out.sort(key=lambda t: (t[0] not in monitored, t[1].lower()))
    return out[:limit]


def find_homes(*, session: Session, query: str, limit: int = 10) -> list[Location]:
    """`/risk HOME`: by CQC ID, name or former name, then nearest names (the register importer's matcher)."""
    try:
        from triage.register_import import find_locations
    except ImportError:  # pragma: no cover - the importer ships with the product
        find_locations = None
    if find_locations is not None:
        return list(find_locations(session=session, query=query, limit=limit))
    return [session.get(Location, lid) for lid, _ in search_homes(session=session, query=query, limit=limit)]


def current_risk(*, session: Session, location_id: str) -> RiskAssessment | None:
    return session.exec(select(RiskAssessment).where(RiskAssessment.location_id == location_id,
                                                     RiskAssessment.current == True)  # noqa: E712
                        .order_by(RiskAssessment.computed_at.desc(), RiskAssessment.id.desc())).first()


def current_cqc(*, session: Session, location_id: str) -> list[CqcRating]:
    rows = session.exec(select(CqcRating).where(CqcRating.location_id == location_id,
                                                CqcRating.current == True)).all()  # noqa: E712
    order = {k: i for i, k in enumerate(KEY_QUESTION_ORDER)}
    return sorted(rows, key=lambda r: order.get(r.key_question, 99))


def portfolio_officer(*, session: Session, location_id: str) -> Officer | None:
    a = session.exec(select(PortfolioAssignment).where(PortfolioAssignment.location_id == location_id,
                                                       PortfolioAssignment.ended_at == None)  # noqa: E711
                     .order_by(PortfolioAssignment.assigned_at.desc())).first()
    return session.get(Officer, a.officer_id) if a else None


# --- thread reply and modal --------------------------------------------------------------------

def concern_reply(*, session: Session, concern: Concern) -> tuple[str, list[dict]]:
    homes = [location_display(h) for h in concern_homes(session=session, concern_id=concern.id)]
    corrected = actor_display(session=session, actor=concern.corrected_by) if concern.labels_source == "officer" else None
    return blocks.triage_reply(concern_id=concern.id, reference=concern.reference or str(concern.id), homes=homes,
                               domains=list(concern.domains or []), urgency=concern.urgency, status=concern.status,
                               corrected_by=corrected)


def correction_view(*, session: Session, concern: Concern, metadata: dict | None = None) -> dict:
    homes = [(h.location_id, location_display(h)) for h in concern_homes(session=session, concern_id=concern.id)]
    return blocks.correction_modal(concern_id=concern.id, reference=concern.reference or str(concern.id),
                                   excerpt=concern.clean_text or concern.raw_text, homes=homes,
                                   domains=list(concern.domains or []), topics=list(concern.topics or []),
                                   safeguarding=list(concern.safeguarding or []), urgency=concern.urgency,
                                   metadata=metadata)


# --- alerts ------------------------------------------------------------------------------------

def _evidence(concern: Concern) -> list[str]:
    """Snippets the classifier quoted as its reasons, flattened from whatever shape it gives."""
    ev = (concern.classification or {}).get("evidence")
    out: list[str] = []

    def walk(x):
        if isinstance(x, str):
            if x.strip() and x not in out:
                out.append(x.strip())
        elif isinstance(x, dict):
            for k in ("text", "snippet", "quote", "span"):
                if isinstance(x.get(k), str):
                    walk(x[k])
                    return
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    walk(ev)
    return out


def alert_concern_rows(*, session: Session, alert: Alert) -> list[Concern]:
    try:
        from triage.risk.alerts import alert_concerns

        return alert_concerns(session=session, alert_id=alert.id)
    except ImportError:  # pragma: no cover
        return []


def alert_message(*, session: Session, alert: Alert, settings: Settings) -> tuple[str, list[dict]]:
    loc = session.get(Location, alert.location_id) if alert.location_id else None
    risk = current_risk(session=session, location_id=loc.location_id) if loc else None
    concerns = alert_concern_rows(session=session, alert=alert)
    details = alert.details or {}
    reasons = [str(r) for r in (details.get("reasons") or [])]
    if details.get("reason_text"):
        reasons.insert(0, str(details["reason_text"]))
    first = concerns[0] if concerns else None
    url = None
    if settings.concern_url_template and first is not None:
        url = settings.concern_url_template.format(id=first.id, reference=first.reference)
    rows = [{"reference": c.reference, "urgency": c.urgency, "domains": c.domains, "topics": c.topics,
             "safeguarding": c.safeguarding, "evidence": _evidence(c)} for c in concerns]
    ack_by = slack_user_of(session=session, actor=alert.acknowledged_by) or actor_display(
        session=session, actor=alert.acknowledged_by)
    reassigned = details.get("reassigned_to")
    if reassigned:
        o = session.get(Officer, reassigned)
        reassigned = o.name if o else reassigned
    when = None
    if alert.acknowledged_at:
        from zoneinfo import ZoneInfo

        when = alert.acknowledged_at.astimezone(ZoneInfo(settings.timezone)).strftime("%H:%M on %d %b")
    return blocks.alert_message(alert_id=alert.id, kind=alert.kind, urgency=alert.urgency, status=alert.status,
                                home=location_display(loc) if loc else None,
                                home_rating=risk.rating if risk else None, home_score=risk.score if risk else None,
                                concerns=rows, reasons=reasons, open_url=url, acknowledged_by=ack_by,
                                acknowledged_at=when, reassigned_to=reassigned,
                                escalation_level=alert.escalation_level)


def slack_deliveries(*, session: Session, alert_ids: list[int]) -> list[AlertDelivery]:
    if not alert_ids:
        return []
    return list(session.exec(select(AlertDelivery).where(AlertDelivery.alert_id.in_(alert_ids),
                                                         AlertDelivery.channel == "slack",
                                                         AlertDelivery.slack_ts != None)  # noqa: E711
                             .order_by(AlertDelivery.id)).all())


# --- /risk card ------------------------------------------------------------------------------

def risk_card(*, session: Session, location: Location, settings: Settings) -> tuple[str, list[dict]]:
    """The risk engineer's card (`triage.risk.card.risk_card`) when installed, else read here."""
    try:
        from triage.risk.card import risk_card as core_card
    except ImportError:  # pragma: no cover - the risk module ships with the product
        core_card = None
    if core_card is not None:
        data = core_card(session=session, location_id=location.location_id, settings=settings, recent=8)
        order = {k: i for i, k in enumerate(KEY_QUESTION_ORDER)}
        cqc = [(kq, v["rating"], v.get("published_on")) for kq, v in
               sorted(data.get("cqc", {}).items(), key=lambda kv: order.get(kv[0], 99))]
        officer = data.get("officer")
        recent = [{"reference": c["reference"], "urgency": c.get("urgency"),
                   "tags": c.get("tags") or [], "received": (c.get("received_at") or "")[:10]}
                  for c in data.get("recent_concerns", [])]
        reason = "; ".join(f["why"] for f in data.get("top_factors", []) if f.get("why")) or None
        flags = [f.get("why") or str(f) for f in data.get("flags", [])]
        return blocks.risk_card(name=data["name"], location_id=data["location_id"], town=location.town,
                                rating=data.get("rating"), score=data.get("score"), reason=reason, cqc=cqc,
                                officer=f"{officer['name']} ({officer['officer_id']})" if officer else None,
                                recent=recent, flags=flags)
    risk = current_risk(session=session, location_id=location.location_id)
    cqc = [(r.key_question, r.rating, r.published_on.isoformat() if r.published_on else None)
           for r in current_cqc(session=session, location_id=location.location_id)]
    officer = portfolio_officer(session=session, location_id=location.location_id)
    since = clock.now() - timedelta(days=90)
    recent_rows = session.exec(
        select(Concern).join(ConcernLocation, ConcernLocation.concern_id == Concern.id)
        .where(ConcernLocation.location_id == location.location_id, Concern.received_at >= since,
               Concern.status.in_(OPEN_STATUSES + ("closed",)))
        .order_by(Concern.received_at.desc()).limit(8)).all()
    recent = [{"reference": c.reference, "urgency": c.urgency, "domains": c.domains,
               "received": c.received_at.date().isoformat()} for c in recent_rows]
    return blocks.risk_card(name=location.name, location_id=location.location_id, town=location.town,
                            rating=risk.rating if risk else None, score=risk.score if risk else None,
                            reason=risk.reason if risk else None, cqc=cqc,
                            officer=f"{officer.name} ({officer.officer_id})" if officer else None,
                            recent=recent)


# --- App Home ----------------------------------------------------------------------------------

def app_home(*, session: Session, officer: Officer | None, settings: Settings) -> tuple[dict, list[int]]:
    """The view and the concern IDs it shows (for the audit trail)."""
    if officer is None:
        return blocks.app_home(officer_name=None, concerns_by_urgency={}, portfolio=[]), []
    loc_ids = list(session.exec(select(PortfolioAssignment.location_id).where(
        PortfolioAssignment.officer_id == officer.officer_id, PortfolioAssignment.ended_at == None)).all())  # noqa: E711
    locations = {l.location_id: l for l in session.exec(
        select(Location).where(Location.location_id.in_(loc_ids))).all()} if loc_ids else {}
    by_urgency: dict[str, list[dict]] = {}
    shown: list[int] = []
    if loc_ids:
        rows = session.exec(
            select(Concern, ConcernLocation.location_id).join(ConcernLocation, ConcernLocation.concern_id == Concern.id)
            .where(ConcernLocation.location_id.in_(loc_ids), Concern.status.in_(OPEN_STATUSES))
            .order_by(Concern.received_at.desc())).all()
        seen: dict[int, dict] = {}
        for c, lid in rows:
            if c.id in seen:
                seen[c.id]["home"] += f", {locations[lid].name}"
                continue
            seen[c.id] = {"id": c.id, "reference": c.reference, "home": locations[lid].name, "domains": c.domains,
                          "received": c.received_at.date().isoformat()}
            by_urgency.setdefault(c.urgency or "none", []).append(seen[c.id])
            shown.append(c.id)
    portfolio = []
    for lid, loc in sorted(locations.items(), key=lambda kv: kv[1].name):
        risk = current_risk(session=session, location_id=lid)
        overall = next((r.rating for r in current_cqc(session=session, location_id=lid)
                        if r.key_question == "overall"), None)
        portfolio.append({"name": loc.name, "rating": risk.rating if risk else "green",
                          "score": risk.score if risk else None, "cqc_overall": overall})
    rank = {"red": 0, "amber": 1, "green": 2}
    portfolio.sort(key=lambda p: (rank.get(p["rating"], 3), -(p["score"] or 0), p["name"]))
    view = blocks.app_home(officer_name=officer.name, concerns_by_urgency=by_urgency, portfolio=portfolio,
                           open_url_template=settings.concern_url_template)
    return view, shown
