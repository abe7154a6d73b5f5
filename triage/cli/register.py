"""`triage register import|list|show`: the provider register."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from sqlmodel import Session, select

from models import CqcRating, Location, Officer, Organisation

from triage import audit
from triage.register_files import RegisterFileError
from triage.register_import import active_officer_for, import_register

from .common import cli_actor, console, one_location, with_store

KINDS = ("organisations", "locations", "officers", "ratings", "assignments")
_file = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def register() -> None:
    """The provider register: CQC directory, ratings, officers and portfolios."""


@register.command("import")
@click.option("--directory", "directory", required=True, type=_file, help="CQC directory CSV (public download layout).")
@click.option("--ratings", type=_file, help="Latest CQC ratings per key question.")
@click.option("--officers", type=_file, help="Officers: id, name, email, Slack ID, role, manager.")
@click.option("--portfolio", type=_file, help="Which officer holds which location, with contract facts.")
@click.option("--local-authority", "local_authorities", multiple=True, metavar="NAME",
              help="Keep only locations in this local authority (repeat for neighbours); portfolio homes are "
                   "always kept. For the national CQC directory download.")
@with_store
def import_cmd(directory, ratings, officers, portfolio, local_authorities, *, settings, engine) -> None:
    """Import or refresh the register. Safe to re-run: unchanged rows are left alone."""
    with Session(engine) as session:
        try:
            report = import_register(session=session, directory=directory, ratings=ratings, officers=officers,
                                     portfolio=portfolio, actor=cli_actor(),
                                     local_authorities=local_authorities or None)
        except RegisterFileError as err:
            raise click.ClickException(str(err)) from None
    table = Table("", "added", "updated", "unchanged", title="Register import")
    for kind in KINDS:
        if report.totals(kind):
            table.add_row(kind, str(report.added[kind]), str(report.updated[kind]), str(report.unchanged[kind]))
    console.print(table)
    for line in report.changes[:50]:
        console.print(f"  • {line}")
    if len(report.changes) > 50:
        console.print(f"  … and {len(report.changes) - 50} more changes")
    console.print("No changes." if not report.changed else
                  f"{sum(report.added.values())} added, {sum(report.updated.values())} updated.")
    if report.changed:
        # Ratings, managers and contracts feed the risk score: rescore every home now.
        from triage.risk.service import rescore_all
        from triage.services import Services

        with Session(engine) as session:
            rescore_all(session=session, services=Services.from_settings(settings, engine=engine),
                        reason="register import")
            session.commit()
        console.print("Risk ratings recalculated for the new register.")


@register.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include locations the council does not monitor.")
@click.option("--officer", help="Only this officer's portfolio.")
@with_store
def list_cmd(show_all: bool, officer: str | None, *, settings, engine) -> None:
    """List the register's locations."""
    with Session(engine) as session:
        q = select(Location).order_by(Location.name)
        if not show_all:
            q = q.where(Location.monitored)
        rows = session.exec(q).all()
        orgs = {o.provider_id: o.name for o in session.exec(select(Organisation)).all()}
        table = Table("Location ID", "Name", "Town", "Postcode", "Provider", "Officer", "Monitored",
                      title=f"{len(rows)} locations")
        for loc in rows:
            off = active_officer_for(session=session, location_id=loc.location_id)
            if officer and (off is None or off.officer_id != officer):
                continue
            table.add_row(loc.location_id, loc.name, loc.town, loc.postcode, orgs.get(loc.provider_id, ""),
                          off.officer_id if off else "-", "yes" if loc.monitored else "no")
    if not rows:
        console.print("The register is empty: run `triage register import --directory FILE.csv ...` first.")
        return
    console.print(table)


@register.command("show")
@click.argument("location")
@with_store
def show_cmd(location: str, *, settings, engine) -> None:
    """Show one location by CQC location ID or name."""
    with Session(engine) as session:
        loc = one_location(session=session, query=location)
        org = session.get(Organisation, loc.provider_id)
        off = active_officer_for(session=session, location_id=loc.location_id)
        manager = session.get(Officer, off.manager_id) if off and off.manager_id else None
        table = Table(show_header=False, title=f"{loc.name} ({loc.location_id})")
        for k, v in [
            ("Provider", f"{org.name} ({org.provider_id})" if org else loc.provider_id),
            ("Address", f"{loc.address} {loc.postcode}"), ("Also known as", ", ".join(loc.also_known_as) or "-"),
            ("Service types", ", ".join(loc.service_types)), ("Local authority", loc.local_authority),
            ("Monitored", "yes" if loc.monitored else "no"),
            ("Officer", f"{off.name} ({off.officer_id})" if off else "-"),
            ("Officer's manager", manager.name if manager else "-"),
            ("Beds", str(loc.beds) if loc.beds is not None else "-"),
            ("Council-funded residents", str(loc.council_funded_residents) if loc.council_funded_residents is not None else "-"),
            ("Contract", loc.contract_status), ("Registered manager", loc.registered_manager or "-"),
            ("Manager changed on", str(loc.manager_changed_on or "-")), ("Financial risk", loc.financial_risk or "-"),
        ]:
            table.add_row(k, v)
        console.print(table)
        ratings = session.exec(select(CqcRating).where(CqcRating.location_id == loc.location_id)
                               .order_by(CqcRating.current.desc(), CqcRating.published_on.desc())).all()
        if ratings:
            rt = Table("Key question", "Rating", "Published", "Current", title="CQC ratings")
            for r in ratings:
                rt.add_row(r.key_question, r.rating, str(r.published_on or "-"), "yes" if r.current else "history")
            console.print(rt)
        else:
            console.print("Not yet rated by CQC.")
        audit.record(session=session, actor=cli_actor(), action="location.viewed", entity_type="location",
                     entity_id=loc.location_id)
        session.commit()
