"""`triage risk` (the matrix), `triage risk explain LOCATION`, and `triage alerts list|ack`."""

from __future__ import annotations

import csv
import io
import json

import click
from rich.table import Table
from rich.text import Text
from sqlmodel import Session

from .common import cli_actor, console, with_store

STYLE = {"red": "bold white on red", "amber": "bold black on dark_orange", "green": "bold white on green4"}


def _factors_text(factors: list[dict]) -> str:
    return "; ".join(f"{f['name']} ({f['points']:g})" for f in factors) or "—"


@click.group(invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--officer", help="Only this officer's portfolio (officer ID).")
@click.pass_context
def risk(ctx, fmt: str, officer: str | None) -> None:
    """The provider risk matrix, every home's rating explained by its factors."""
    if ctx.invoked_subcommand is None:
        _matrix(fmt=fmt, officer=officer)


@with_store
def _matrix(*, fmt: str, officer: str | None, settings, engine) -> None:
    from triage.risk.matrix import matrix_rows

    with Session(engine) as session:
        rows = matrix_rows(session=session, settings=settings, officer_id=officer)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["location_id", "name", "provider", "officer_id", "rating", "score", "cqc_overall",
                    "open_concerns", "top_factors", "flags"])
        for r in rows:
            w.writerow([r["location_id"], r["name"], r["provider"], r["officer_id"], r["rating"], f"{r['score']:.1f}",
                        r["cqc_overall"] or "", r["open_concerns"], _factors_text(r["top_factors"]),
                        "; ".join(f["why"] for f in r["flags"])])
        click.echo(buf.getvalue(), nl=False)
        return
    table = Table("Rating", "Score", "Home", "Provider", "CQC", "Open", "Officer", "Top factors",
                  title=f"Provider risk matrix ({len(rows)} homes; amber ≥ {settings.risk_amber_threshold:g}, "
                        f"red ≥ {settings.risk_red_threshold:g})")
    for r in rows:
        name = r["name"] + (" ⚑" if r["flags"] else "")
        table.add_row(Text(f" {r['rating'].upper()} ", style=STYLE[r["rating"]]), f"{r['score']:.1f}",
                      f"{name}\n[dim]{r['location_id']}[/dim]", r["provider"], r["cqc_overall"] or "Not rated",
                      str(r["open_concerns"]), r["officer_id"], _factors_text(r["top_factors"]))
    console.print(table)


@risk.command("explain")
@click.argument("location")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@with_store
def explain(location: str, fmt: str, *, settings, engine) -> None:
    """Every factor behind one home's rating (LOCATION: CQC location ID or name)."""
    from triage.risk.card import risk_card

    from .common import one_location

    with Session(engine) as session:
        loc = one_location(session=session, query=location)
        card = risk_card(session=session, location_id=loc.location_id, settings=settings)
    if fmt == "json":
        click.echo(json.dumps(card, indent=2, default=str))
        return
    console.print(Text.assemble(Text(f" {card['rating'].upper()} ", style=STYLE[card["rating"]]),
                                f"  {card['name']} ({card['location_id']}), {card['provider']}: score "
                                f"{card['score']:.1f} (amber ≥ {card['thresholds']['amber']:g}, "
                                f"red ≥ {card['thresholds']['red']:g})"))
    table = Table("Factor", "Points", "Why")
    for f in card["factors"]:
        table.add_row(f["name"], f"{f['points']:g}", f["why"])
    if not card["factors"]:
        table.add_row("nothing known against this home", "0", "")
    table.add_row("[b]total[/b]", f"[b]{card['score']:g}[/b]", "")
    console.print(table)
    for flag in card["flags"]:
        console.print(f"[red]⚑ {flag['why']}[/red]")
    if card["officer"]:
        console.print(f"Officer: {card['officer']['name']} ({card['officer']['officer_id']})")
    elif not card["monitored"]:
        console.print("Not monitored by the council: concerns go to the duty desk.")


@risk.command("rescore")
@with_store
def rescore_cmd(*, settings, engine) -> None:
    """Re-assess every home now (after a register import, or to apply new weights)."""
    from triage.notify.dispatch import dispatch_pending
    from triage.risk.service import rescore_all
    from triage.services import Services

    services = Services(settings=settings, engine=engine)
    with Session(engine, expire_on_commit=False) as session:
        out = rescore_all(session=session, services=services, reason="manual rescore")
        session.commit()
        n = dispatch_pending(session=session, services=services)
    changed = sum(1 for a in out if a.written is not None)
    console.print(f"{len(out)} homes assessed, {changed} changed; {n} alert deliveries sent.")


@click.group()
def alerts() -> None:
    """Alerts to officers: list them, acknowledge them."""


@alerts.command("list")
@click.option("--officer", help="Only alerts to this officer.")
@click.option("--status", type=click.Choice(["open", "acknowledged", "cancelled", "all"]), default="open",
              show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@with_store
def list_alerts(officer: str | None, status: str, fmt: str, *, settings, engine) -> None:
    from triage.risk.alerts import open_alerts

    with Session(engine) as session:
        rows = open_alerts(session=session, officer_id=officer, status=None if status == "all" else status)
        data = [{"id": a.id, "kind": a.kind, "recipient": a.recipient_id, "reason": a.reason, "urgency": a.urgency,
                 "status": a.status, "level": a.escalation_level, "location_id": a.location_id,
                 "concerns": [c.get("reference") for c in (a.details or {}).get("concerns", [])],
                 "created_at": a.created_at.isoformat(timespec="minutes"),
                 "escalates_at": a.escalates_at.isoformat(timespec="minutes") if a.escalates_at else None}
                for a in rows]
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    table = Table("ID", "Kind", "To", "Why", "Urgency", "Status", "Home", "Concerns", "Created", "Escalates",
                  title=f"Alerts ({status})")
    for d in data:
        table.add_row(str(d["id"]), d["kind"], d["recipient"], d["reason"], d["urgency"] or "", d["status"],
                      d["location_id"] or "", ", ".join(x or "" for x in d["concerns"]), d["created_at"],
                      d["escalates_at"] or "")
    console.print(table)


@alerts.command("ack")
@click.argument("alert_id", type=int)
@with_store
def ack(alert_id: int, *, settings, engine) -> None:
    """Acknowledge an alert: stops its escalation; every recipient's message shows it."""
    from triage.notify.dispatch import dispatch_pending
    from triage.risk.alerts import AlertError, acknowledge_alert, chain
    from triage.services import Services

    services = Services(settings=settings, engine=engine)
    with Session(engine, expire_on_commit=False) as session:
        try:
            alert = acknowledge_alert(session=session, alert_id=alert_id, actor=cli_actor(), services=services)
        except AlertError as err:
            raise click.ClickException(str(err)) from None
        ids = [a.id for a in chain(session=session, alert=alert)]
        session.commit()
        dispatch_pending(session=session, services=services, alert_ids=ids)
    console.print(f"Alert {alert_id} acknowledged.")
