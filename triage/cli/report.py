"""`triage report quality-board`: the risk matrix for the multi-agency Quality Board."""

from __future__ import annotations

from pathlib import Path

import click
from sqlmodel import Session

from .common import console, with_store


@click.group()
def report() -> None:
    """Reports for the Quality Board."""


@report.command("quality-board")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (e.g. board.html or board.csv).")
@click.option("--format", "fmt", type=click.Choice(["html", "csv"]), default=None,
              help="Default: from the file's extension, else html.")
@with_store
def quality_board(out: Path, fmt: str | None, *, settings, engine) -> None:
    """Risk matrix with 12-week trends, top factors, open concerns and suggested monitoring visits."""
    from triage.risk.quality_board import build, to_csv, to_html

    fmt = fmt or ("csv" if out.suffix.lower() == ".csv" else "html")
    with Session(engine) as session:
        data = build(session=session, settings=settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_html(data) if fmt == "html" else to_csv(data), encoding="utf-8")
    visits = sum(r["suggested_visit"] for r in data["rows"])
    console.print(f"Wrote {out} ({fmt}): {len(data['rows'])} homes, {visits} suggested monitoring visits.")
