"""`triage slack`: run the bot on its own, print the app manifest."""

from __future__ import annotations

import signal
import threading

import click

from .common import console, err_console, load_settings_or_exit, with_store

PLACEHOLDER = "https://YOUR-HOST"


def render_manifest(url: str | None = None, socket_mode: bool = False) -> str:
    """The manifest with the request URL filled in, or switched to Socket Mode (no URLs)."""
    import yaml

    from bot.app import manifest_text

    text = manifest_text()
    if not url and not socket_mode:
        return text
    data = yaml.safe_load(text)
    s = data["settings"]
    cmds = data["features"]["slash_commands"]
    if socket_mode:
        s["socket_mode_enabled"] = True
        s["event_subscriptions"].pop("request_url", None)
        s["interactivity"].pop("request_url", None)
        s["interactivity"].pop("message_menu_options_url", None)
        for c in cmds:
            c.pop("url", None)
    else:
        base = url.rstrip("/")
        events = base if base.endswith("/slack/events") else base + "/slack/events"
        s["event_subscriptions"]["request_url"] = events
        s["interactivity"]["request_url"] = events
        s["interactivity"]["message_menu_options_url"] = events
        for c in cmds:
            c["url"] = events
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@click.group()
def slack() -> None:
    """The Slack bot: channel intake, corrections, alerts, /concern and /risk."""


@slack.command()
@click.option("--url", help="Public base URL of this service (fills in the request URLs).")
@click.option("--socket-mode", is_flag=True, help="A manifest for Socket Mode (no request URLs).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
def manifest(url: str | None, socket_mode: bool, as_json: bool) -> None:
    """Print the Slack app manifest to paste into api.slack.com/apps."""
    text = render_manifest(url, socket_mode)
    if as_json:
        import json

        import yaml

        text = json.dumps(yaml.safe_load(text), indent=2)
    click.echo(text, nl=not text.endswith("\n"))


@slack.command()
@click.option("--host", default=None, help="Listen address (default TRIAGE_HTTP_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (default TRIAGE_HTTP_PORT).")
@click.option("--mode", type=click.Choice(["auto", "http", "socket"]), default="auto",
              help="auto: Socket Mode when SLACK_APP_TOKEN is set, else HTTP.")
def serve(host: str | None, port: int | None, mode: str) -> None:
    """Run the bot alone (`triage serve` runs it with everything else)."""
    settings = load_settings_or_exit()
    chosen = settings.effective_slack_mode if mode == "auto" else mode
    if chosen == "off":
        raise click.ClickException("Slack is off: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP) "
                                   "or SLACK_APP_TOKEN (Socket Mode).")
    _serve(host=host, port=port, chosen=chosen)


@with_store
def _serve(*, host: str | None, port: int | None, chosen: str, settings, engine) -> None:
    from bot.app import BotConfigError
    from bot.server import serve_http, serve_socket_mode
    from triage.services import Services

    services = Services(settings=settings, engine=engine)
    try:
        services.classifier  # fail now, not on the first post
    except Exception as err:
        raise click.ClickException(str(err)) from None
    try:
        if chosen == "socket":
            bot = serve_socket_mode(services)
            console.print("Slack bot connected in Socket Mode. Ctrl-C stops it.")
        else:
            bot = serve_http(services, host, port)
            console.print(f"Slack bot listening on {bot.url}  (give Slack https://<public host>/slack/events). "
                          "Ctrl-C stops it.")
    except BotConfigError as err:
        raise click.ClickException(str(err)) from None
    except Exception as err:  # auth.test refused the token, port in use ...
        raise click.ClickException(f"the Slack bot could not start: {err.__class__.__name__}: {err}") from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    err_console.print("Stopping: finishing the work in hand…")
    bot.shutdown()


__all__ = ["slack", "render_manifest"]
