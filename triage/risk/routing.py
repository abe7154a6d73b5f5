"""Who must hear about a concern: the portfolio officer of each home, else the duty desk;
the safeguarding lead too when it is immediate and names a safeguarding category."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, select

from models import Concern, ConcernLocation, Location, Officer, PortfolioAssignment


@dataclass
class Recipient:
    officer_id: str
    reason: str  # portfolio | duty | safeguarding_lead
    location_ids: list[str] = field(default_factory=list)
    why: list[str] = field(default_factory=list)


def officers_with_role(*, session: Session, role: str) -> list[Officer]:
    return list(session.exec(select(Officer).where(Officer.role == role, Officer.active == True)  # noqa: E712
                             .order_by(Officer.officer_id)).all())


def portfolio_officers(*, session: Session, location_id: str) -> list[Officer]:
    rows = session.exec(
        select(Officer).join(PortfolioAssignment, PortfolioAssignment.officer_id == Officer.officer_id)
        .where(PortfolioAssignment.location_id == location_id, PortfolioAssignment.ended_at == None,  # noqa: E711
               Officer.active == True)  # noqa: E712
        .order_by(Officer.officer_id)
    ).all()
    return list({o.officer_id: o for o in rows}.values())


def concern_location_ids(*, session: Session, concern_id: int) -> list[str]:
    return sorted(link.location_id for link in session.exec(
        select(ConcernLocation).where(ConcernLocation.concern_id == concern_id)).all())


def route_concern(*, session: Session, concern: Concern) -> list[Recipient]:
    """One Recipient per officer, however many of the concern's homes they hold."""
    out: dict[str, Recipient] = {}

    def add(officer_id: str, reason: str, location_id: str | None, why: str) -> None:
        r = out.get(officer_id)
        if r is None:
            r = out[officer_id] = Recipient(officer_id, reason)
        if location_id and location_id not in r.location_ids:
            r.location_ids.append(location_id)
        r.why.append(why)

    duty = officers_with_role(session=session, role="duty")
    loc_ids = concern_location_ids(session=session, concern_id=concern.id)
    if not loc_ids:
        for d in duty:
            add(d.officer_id, "duty", None, "no known home named")
    for lid in loc_ids:
        loc = session.get(Location, lid)
        holders = portfolio_officers(session=session, location_id=lid) if loc is not None and loc.monitored else []
        if holders:
            for o in holders:
                add(o.officer_id, "portfolio", lid, f"holds {lid} in their portfolio")
        else:
            why = f"{lid} is not monitored by the council" if loc is not None and not loc.monitored \
                else f"{lid} has no portfolio officer"
            for d in duty:
                add(d.officer_id, "duty", lid, why)
    if concern.urgency == "immediate" and concern.safeguarding:
        for lead in officers_with_role(session=session, role="safeguarding_lead"):
            if lead.officer_id in out:
                out[lead.officer_id].why.append("immediate safeguarding")
                continue
            add(lead.officer_id, "safeguarding_lead", None,
                f"immediate with safeguarding ({', '.join(concern.safeguarding)})")
            out[lead.officer_id].location_ids = list(loc_ids)
    return list(out.values())
