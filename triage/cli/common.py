"""Shared CLI plumbing: settings errors become one clear message, not a traceback."""

from __future__ import annotations

import functools
import getpass

import click
from rich.console import Console

from triage.config import Settings, SettingsError, get_settings

console = Console()
err_console = Console(stderr=True)


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # pragma: no cover - no passwd entry in some containers
        return "cli:unknown"


def load_settings_or_exit() -> Settings:
    try:
        return get_settings()
    except SettingsError as err:
        raise click.ClickException(str(err)) from None


def with_store(fn):
    """Load settings, bring the store's schema up to date, pass `settings` and `engine`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from triage.db import get_engine, migrate

        settings = load_settings_or_exit()
        try:
            migrate(settings.database_url)
        except Exception as err:  # connection refused, bad credentials...
            raise click.ClickException(
                f"cannot open the store at {_safe_url(settings.database_url)}: {err.__class__.__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''}\n"
                "Check TRIAGE_DATABASE_URL and that the database server is running."
            ) from None
        return fn(*args, settings=settings, engine=get_engine(settings), **kwargs)

    return wrapper


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def one_location(*, session, query: str):
    """The one location a CLI argument names (CQC location ID or name), or a clear error."""
    from triage.register_import import find_locations

    found = find_locations(session=session, query=query)
    if not found:
        raise click.ClickException(f"no location matches '{query}'; try `triage register list --all`")
    if len(found) > 1:
        lines = "\n".join(f"  {l.location_id}  {l.name}, {l.town}" for l in found)
        raise click.ClickException(f"'{query}' matches several locations; give the ID:\n{lines}")
    return found[0]
