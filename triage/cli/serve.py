"""`triage serve`."""

from __future__ import annotations

import click

from .common import load_settings_or_exit


@click.command()
@click.option("--host", help="Override TRIAGE_HTTP_HOST.")
@click.option("--port", type=int, help="Override TRIAGE_HTTP_PORT.")
def serve(host: str | None, port: int | None) -> None:
    """Run the service: mail reader, Slack app, scheduler and /healthz /readyz /metrics."""
    from triage.serve import serve_forever

    settings = load_settings_or_exit()
    if host or port is not None:
        settings = settings.model_copy(update={k: v for k, v in (("http_host", host), ("http_port", port)) if v is not None})
    serve_forever(settings)
