"""`triage db upgrade` and `triage audit`."""

from __future__ import annotations

import click
from rich.table import Table
from sqlmodel import Session, select

from models import AuditEvent

from .common import _safe_url, console, load_settings_or_exit, with_store


@click.group()
def db() -> None:
    """The risk store's schema."""


@db.command("upgrade")
def upgrade() -> None:
    """Create or migrate the store to the latest schema."""
    from triage.db import migrate

    settings = load_settings_or_exit()
    migrate(settings.database_url)
    console.print(f"Store at {_safe_url(settings.database_url)} is at the latest schema.")


@click.command()
@click.option("--entity", help="Only events for this entity ID (concern ID, location ID, alert ID).")
@click.option("--limit", default=50, show_default=True)
@with_store
def audit(entity: str | None, limit: int, *, settings, engine) -> None:
    """Show the audit trail, newest first."""
    with Session(engine) as session:
        q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if entity:
            q = q.where(AuditEvent.entity_id == entity)
        rows = session.exec(q).all()
    table = Table("at (UTC)", "actor", "action", "entity", "details")
    for e in rows:
        table.add_row(e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, f"{e.entity_type}:{e.entity_id}",
                      ", ".join(f"{k}={v}" for k, v in (e.details or {}).items())[:80])
    console.print(table)
