"""Small register and concern builders for the risk tests (rows written directly)."""

from __future__ import annotations

import itertools
from datetime import date, datetime

from sqlmodel import Session

from models import Concern, ConcernLocation, ConcernSource, CqcRating, Location, Officer, Organisation, \
    PortfolioAssignment
from triage import clock
from triage.risk.service import on_concern_changed
from triage.services import Services

_seq = itertools.count(1)

OFFICERS = [
    # officer_id, role, manager
    ("MGR1", "manager", None),
    ("QMO1", "qmo", "MGR1"),
    ("QMO2", "qmo", "MGR1"),
    ("SGL1", "safeguarding_lead", None),
    ("DUTY", "duty", None),
]


def build_register(session: Session) -> None:
    """Provider P1 runs A, B, C (A and B held by QMO1, C by QMO2); P2 runs D (held by QMO2);
    P3 runs U, outside the council's area (not monitored)."""
    now = clock.now()
    for oid, role, mgr in OFFICERS:
        session.add(Officer(officer_id=oid, name=f"Officer {oid}", email=f"{oid.lower()}@council.example.org",
                            slack_user_id=f"U{oid}", role=role, manager_id=mgr))
    session.flush()
    for pid in ("P1", "P2", "P3"):
        session.add(Organisation(provider_id=pid, name=f"Provider {pid}"))
    session.flush()
    for lid, pid, name, monitored in [("A", "P1", "Alder House", True), ("B", "P1", "Beech House", True),
                                      ("C", "P1", "Cedar Lodge", True), ("D", "P2", "Damson Court", True),
                                      ("U", "P3", "Upland View", False)]:
        session.add(Location(location_id=lid, provider_id=pid, name=name, monitored=monitored, beds=40,
                             council_funded_residents=10, contract_status="active", registered_manager="in_post",
                             financial_risk="low"))
    session.flush()
    for lid, oid in [("A", "QMO1"), ("B", "QMO1"), ("C", "QMO2"), ("D", "QMO2")]:
        session.add(PortfolioAssignment(location_id=lid, officer_id=oid, assigned_at=now))
    for lid in ("A", "B", "C", "D", "U"):
        for kq in ("overall", "safe", "effective", "caring", "responsive", "well-led"):
            session.add(CqcRating(location_id=lid, key_question=kq, rating="Good", published_on=date(2025, 1, 1)))
    session.commit()


def make_concern(session: Session, *, locations=(), urgency="high", safeguarding=(), topics=("staffing",),
                 source="email", sender="someone@example.org", received_at: datetime | None = None,
                 text="Concern text about care.", status="open") -> Concern:
    n = next(_seq)
    when = received_at or clock.now()
    c = Concern(source=source, external_id=f"ext-{n}", content_hash=f"h{n}", received_at=when, sender=sender,
                raw_text=text, clean_text=text, urgency=urgency, topics=list(topics), safeguarding=list(safeguarding),
                domains=["safe"], status=status, created_at=when, updated_at=when)
    session.add(c)
    session.flush()
    c.reference = f"CC-{c.id:06d}"
    session.add(ConcernSource(concern_id=c.id, source=source, external_id=f"ext-{n}", sender=sender, received_at=when))
    for lid in locations:
        session.add(ConcernLocation(concern_id=c.id, location_id=lid))
    session.flush()
    return c


def store(session: Session, services: Services, **kw):
    """Build a concern and run the risk side as the pipeline would; commits."""
    c = make_concern(session, **kw)
    alerts = on_concern_changed(session=session, concern=c, services=services)
    session.commit()
    return c, alerts


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def stop_schedulers():
    """Each test's schedulers (one per database) stop with it."""
    yield
    from triage.risk import scheduling

    scheduling.shutdown()
