"""Load the provider register into the store: idempotent, all-or-nothing, with history.

A second import of the same files changes nothing; a changed CQC rating keeps the old
one as history; a portfolio hand-over ends the old assignment and starts a new one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from sqlmodel import Session, select

from models import CqcRating, Location, Officer, Organisation, PortfolioAssignment

from . import audit, clock
from .register_files import RegisterFiles, parse_all


@dataclass
class ImportReport:
    added: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    unchanged: Counter = field(default_factory=Counter)
    changes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(sum(self.added.values()) or sum(self.updated.values()))

    def totals(self, kind: str) -> int:
        return self.added[kind] + self.updated[kind] + self.unchanged[kind]


def _apply(obj, values: dict) -> list[str]:
    changed = []
    for k, v in values.items():
        if getattr(obj, k) != v:
            changed.append(k)
            setattr(obj, k, v)
    return changed


def _upsert(session: Session, report: ImportReport, model, key, values: dict, kind: str, label: str):
    obj = session.get(model, key)
    if obj is None:
        obj = model(**values)
        session.add(obj)
        report.added[kind] += 1
        return obj
    changed = _apply(obj, values)
    if changed:
        if hasattr(obj, "updated_at"):
            obj.updated_at = clock.now()
        report.updated[kind] += 1
        report.changes.append(f"{kind} {label}: {', '.join(changed)} changed")
    else:
        report.unchanged[kind] += 1
    return obj


def import_register(*, session: Session, directory: Path, ratings: Path | None = None, officers: Path | None = None,
                    portfolio: Path | None = None, actor: str = "system:import",
                    local_authorities: Sequence[str] | None = None) -> ImportReport:
    """Parse every file first (a malformed one raises RegisterFileError before any write), then apply.

    The caller's session is committed on success and rolled back on any error.
    """
    files = parse_all(Path(directory), ratings and Path(ratings), officers and Path(officers),
                      portfolio and Path(portfolio), local_authorities=local_authorities)
    try:
        report = _import(session=session, files=files)
        audit.record(session=session, actor=actor, action="register.imported", entity_type="register",
                     entity_id="register", details={"added": dict(report.added), "updated": dict(report.updated),
                                                     "files": [str(p) for p in (directory, ratings, officers, portfolio) if p]})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return report


def _import(*, session: Session, files: RegisterFiles) -> ImportReport:
    report = ImportReport()
    now = clock.now()
    orgs: dict[str, str] = {}
    for d in files.directory:
        orgs.setdefault(d.provider_id, d.provider_name)
    for pid, name in orgs.items():
        _upsert(session, report, Organisation, pid, {"provider_id": pid, "name": name}, "organisations", pid)
    session.flush()

    portfolio = {p.location_id: p for p in files.portfolio} if files.portfolio is not None else None
    for d in files.directory:
        values = dict(
            location_id=d.location_id, provider_id=d.provider_id, name=d.name, also_known_as=d.also_known_as,
            address=d.address, postcode=d.postcode, town=d.town, phone=d.phone, website=d.website,
            service_types=d.service_types, specialisms=d.specialisms, local_authority=d.local_authority,
            region=d.region, location_url=d.location_url, last_checked=d.last_checked,
        )
        if portfolio is not None:
            p = portfolio.get(d.location_id)
            # The portfolio is the council's list of what it monitors: absent means not monitored.
            values.update(monitored=p is not None)
            if p is not None:
                values.update(beds=p.beds, council_funded_residents=p.council_funded_residents,
                              contract_status=p.contract_status, registered_manager=p.registered_manager,
                              manager_changed_on=p.manager_changed_on, financial_risk=p.financial_risk)
        _upsert(session, report, Location, d.location_id, values, "locations", d.location_id)
    session.flush()

    if files.officers is not None:
        # Two passes: a manager may come after the officers who report to them.
        new_ids = set()
        for o in files.officers:
            if session.get(Officer, o.officer_id) is None:
                new_ids.add(o.officer_id)
            _upsert(session, report, Officer, o.officer_id,
                    dict(officer_id=o.officer_id, name=o.name, email=o.email, slack_user_id=o.slack_user_id,
                         role=o.role, active=True), "officers", o.officer_id)
        session.flush()
        for o in files.officers:
            off = session.get(Officer, o.officer_id)
            if off.manager_id != o.manager_id:
                if o.officer_id not in new_ids:
                    report.updated["officers"] += 1
                    report.unchanged["officers"] -= 1 if report.unchanged["officers"] else 0
                    report.changes.append(f"officers {o.officer_id}: manager_id changed")
                off.manager_id = o.manager_id
        session.flush()

    if files.ratings is not None:
        _import_ratings(session=session, files=files, report=report, now=now)

    if files.portfolio is not None:
        _import_portfolio(session=session, files=files, report=report, now=now)
    return report


def _import_ratings(*, session: Session, files: RegisterFiles, report: ImportReport, now) -> None:
    current = {(r.location_id, r.key_question): r for r in session.exec(select(CqcRating).where(CqcRating.current)).all()}
    for r in files.ratings:
        old = current.get((r.location_id, r.key_question))
        if old is not None and old.rating == r.rating and old.published_on == r.published_on:
            report.unchanged["ratings"] += 1
            continue
        # The same publication seen before (e.g. a file re-ordered) is reinstated, not duplicated.
        prior = session.exec(select(CqcRating).where(
            CqcRating.location_id == r.location_id, CqcRating.key_question == r.key_question,
            CqcRating.rating == r.rating, CqcRating.published_on == r.published_on)).first()
        if old is not None:
            old.current = False
            report.updated["ratings"] += 1
            report.changes.append(
                f"rating {r.location_id} {r.key_question}: {old.rating} ({old.published_on}) -> {r.rating} ({r.published_on})")
        else:
            report.added["ratings"] += 1
        if prior is not None:
            prior.current = True
        else:
            session.add(CqcRating(location_id=r.location_id, key_question=r.key_question, rating=r.rating,
                                  published_on=r.published_on, current=True, recorded_at=now))
    session.flush()


def _import_portfolio(*, session: Session, files: RegisterFiles, report: ImportReport, now) -> None:
    active = {a.location_id: a for a in session.exec(
        select(PortfolioAssignment).where(PortfolioAssignment.ended_at.is_(None))).all()}
    wanted = {p.location_id: p.officer_id for p in files.portfolio}
    for loc, officer_id in wanted.items():
        if session.get(Officer, officer_id) is None:
            from .register_files import RegisterFileError

            raise RegisterFileError("portfolio", None, "officer_id",
                                    f"officer '{officer_id}' is not in the store; import the officers file with it")
        cur = active.get(loc)
        if cur is not None and cur.officer_id == officer_id:
            report.unchanged["assignments"] += 1
            continue
        if cur is not None:
            cur.ended_at = now
            report.updated["assignments"] += 1
            report.changes.append(f"portfolio {loc}: {cur.officer_id} -> {officer_id}")
        else:
            report.added["assignments"] += 1
        session.add(PortfolioAssignment(location_id=loc, officer_id=officer_id, assigned_at=now))
    for loc, cur in active.items():
        if loc not in wanted:
            cur.ended_at = now
            report.updated["assignments"] += 1
            report.changes.append(f"portfolio {loc}: no longer monitored (was {cur.officer_id})")
    session.flush()


def find_locations(*, session: Session, query: str, limit: int = 5) -> list[Location]:
    """By CQC location ID, exact name or former name, then closest names (for CLI and /risk)."""
    from rapidfuzz import fuzz, process

    q = query.strip()
    if not q:
        return []
    loc = session.get(Location, q)
    if loc is not None:
        return [loc]
    locations = session.exec(select(Location)).all()
    ql = q.lower()
    exact = [l for l in locations if l.name.lower() == ql or ql in (a.lower() for a in l.also_known_as)]
    if exact:
        return exact
    contains = [l for l in locations if ql in l.name.lower() or ql in f"{l.name} {l.town}".lower()]
    if contains:
        return contains[:limit]
    names = {l.location_id: f"{l.name} {l.town}" for l in locations}
    best = process.extract(q, names, scorer=fuzz.token_sort_ratio, limit=limit, score_cutoff=70)
    by_id = {l.location_id: l for l in locations}
    return [by_id[key] for _, _, key in best]


def active_officer_for(*, session: Session, location_id: str) -> Officer | None:
    a = session.exec(select(PortfolioAssignment).where(
        PortfolioAssignment.location_id == location_id, PortfolioAssignment.ended_at.is_(None))).first()
    return session.get(Officer, a.officer_id) if a else None
