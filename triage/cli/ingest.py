"""`triage ingest mail [--once]` and `triage quarantine list|show|release`."""

from __future__ import annotations

import json
import signal
import threading

import click
from rich.table import Table
from sqlmodel import Session

from models import InboundMessage

from .common import cli_actor, console, with_store


def _services(settings, engine):
    from triage.services import Services

    if not settings.imap_enabled:
        raise click.ClickException("IMAP is not configured: set TRIAGE_IMAP_HOST, TRIAGE_IMAP_USER and "
                                   "TRIAGE_IMAP_PASSWORD (and TRIAGE_IMAP_PORT / TRIAGE_IMAP_TLS as needed).")
    return Services(settings=settings, engine=engine)


def _summary_table(summary) -> Table:
    table = Table("", "messages", title="Mail ingest")
    for label, value in (("fetched", summary.fetched), ("stored as new concerns", summary.stored),
                         ("linked as duplicates", summary.duplicates), ("quarantined", summary.quarantined),
                         ("skipped as auto-replies", summary.auto_replies),
                         ("finished from an interrupted run", summary.resumed),
                         ("acknowledged", summary.acknowledged)):
        table.add_row(label, str(value))
    return table


@click.group()
def ingest() -> None:
    """Bring concerns in from outside channels."""


@ingest.command("mail")
@click.option("--once", is_flag=True, help="Drain the mailbox and exit (otherwise keep reading with IDLE).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@with_store
def mail_cmd(once: bool, as_json: bool, *, settings, engine) -> None:
    """Read the shared mailbox: store and classify each concern, then file the message away."""
    from mail_ingest.imap import CONNECTION_ERRORS, ImapNotConfigured
    from mail_ingest.job import run_forever, run_once
    from triage.services import ModelMissingError

    services = _services(settings, engine)
    try:
        if once:
            summary = run_once(services)
        else:
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            console.print("Reading the mailbox; Ctrl-C to stop.")
            summary = run_forever(services, stop)
    except ImapNotConfigured as err:
        raise click.ClickException(str(err)) from None
    except ModelMissingError as err:
        raise click.ClickException(str(err)) from None
    except CONNECTION_ERRORS as err:
        raise click.ClickException(f"cannot read the mailbox at {settings.imap_host}:{settings.imap_port}: "
                                   f"{err.__class__.__name__}: {err}") from None
    if summary.locked_out and once:
        raise click.ClickException("another process is reading this mailbox; nothing done")
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    else:
        console.print(_summary_table(summary))


@click.group()
def quarantine() -> None:
    """Messages that could not be processed, kept for the duty desk."""


@quarantine.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include messages already released.")
@with_store
def list_cmd(show_all: bool, *, settings, engine) -> None:
    """Quarantined messages with the reason each was set aside."""
    from mail_ingest.quarantine import quarantined

    with Session(engine) as session:
        rows = quarantined(session=session, include_released=show_all)
        if not rows:
            console.print("The quarantine is empty.")
            return
        table = Table("id", "received", "from", "subject", "reason", "released", title="Quarantine")
        for r in rows:
            table.add_row(str(r.id), r.received_at.strftime("%Y-%m-%d %H:%M"), r.sender or "", r.subject or "",
                          r.reason or "", r.resolved_at.strftime("%Y-%m-%d %H:%M") if r.resolved_at else "")
        console.print(table)


@quarantine.command("show")
@click.argument("message_id", type=int)
@with_store
def show_cmd(message_id: int, *, settings, engine) -> None:
    """One quarantined message: who sent it, when, and why it was set aside."""
    with Session(engine) as session:
        r = session.get(InboundMessage, message_id)
        if r is None:
            raise click.ClickException(f"no inbound message with id {message_id}")
        for label, value in (("id", r.id), ("mailbox", r.mailbox), ("message key", r.message_key),
                             ("from", r.sender), ("subject", r.subject), ("size", f"{r.size} bytes"),
                             ("received", r.received_at.isoformat()), ("outcome", r.outcome),
                             ("reason", r.reason), ("concern", r.concern_id),
                             ("released", r.resolved_at.isoformat() if r.resolved_at else None)):
            console.print(f"[bold]{label}:[/bold] {value if value is not None else '-'}")


@quarantine.command("release")
@click.argument("message_id", type=int)
@with_store
def release_cmd(message_id: int, *, settings, engine) -> None:
    """Move a quarantined message back to the inbox to be processed again."""
    from mail_ingest.quarantine import ReleaseError, release

    services = _services(settings, engine)
    with Session(engine, expire_on_commit=False) as session:
        try:
            release(session=session, services=services, row_id=message_id, actor=cli_actor())
        except ReleaseError as err:
            raise click.ClickException(str(err)) from None
    console.print(f"Message {message_id} moved back to {settings.imap_folder}; the next run processes it again.")
