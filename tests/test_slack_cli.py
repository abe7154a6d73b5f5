"""`triage slack manifest`, start-up checks and Socket Mode construction."""

from __future__ import annotations

import json
import urllib.request

import pytest
import yaml
from click.testing import CliRunner

from bot.app import BotConfigError, build_app, shutdown_app
from slack_stub import BOT_TOKEN, SIGNING_SECRET, SlackStub
from triage.cli import main
from triage.db import make_engine
from triage.services import Services


def _manifest(*args) -> dict:
    result = CliRunner().invoke(main, ["slack", "manifest", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "--json" in args else yaml.safe_load(result.output)


def test_manifest_declares_what_the_app_listens_to():
    m = _manifest()
    scopes = set(m["oauth_config"]["scopes"]["bot"])
    assert {"channels:history", "groups:history", "chat:write", "im:write", "commands", "users:read",
            "channels:read"} <= scopes
    assert set(m["settings"]["event_subscriptions"]["bot_events"]) == {"message.channels", "message.groups",
                                                                        "app_home_opened"}
    assert {c["command"] for c in m["features"]["slash_commands"]} == {"/concern", "/risk"}
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["features"]["app_home"]["home_tab_enabled"] is True
    assert m["settings"]["socket_mode_enabled"] is False


def test_manifest_url_and_socket_mode_variants():
    m = _manifest("--url", "https://triage.council.example/", "--json")
    url = "https://triage.council.example/slack/events"
    assert m["settings"]["event_subscriptions"]["request_url"] == url
    assert m["settings"]["interactivity"]["request_url"] == url
    assert m["settings"]["interactivity"]["message_menu_options_url"] == url
    assert all(c["url"] == url for c in m["features"]["slash_commands"])
    s = _manifest("--socket-mode")
    assert s["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in s["settings"]["event_subscriptions"]
    assert all("url" not in c for c in s["features"]["slash_commands"])


def test_build_app_checks_settings_and_token(sqlite_url, settings_factory):
    engine = make_engine(sqlite_url)
    with pytest.raises(BotConfigError, match="SLACK_BOT_TOKEN"):
        build_app(Services(settings_factory(database_url=sqlite_url), engine))
    with SlackStub(token=BOT_TOKEN) as stub:
        no_secret = settings_factory(database_url=sqlite_url, slack_bot_token=BOT_TOKEN, slack_api_url=stub.url)
        with pytest.raises(BotConfigError, match="SLACK_SIGNING_SECRET"):
            build_app(Services(no_secret, engine), mode="http")
        wrong = settings_factory(database_url=sqlite_url, slack_bot_token="xoxb-wrong",
                                 slack_signing_secret=SIGNING_SECRET, slack_api_url=stub.url)
        with pytest.raises(Exception, match="invalid_auth"):
            build_app(Services(wrong, engine), mode="http")
        good = settings_factory(database_url=sqlite_url, slack_bot_token=BOT_TOKEN,
                                slack_signing_secret=SIGNING_SECRET, slack_api_url=stub.url)
        app = build_app(Services(good, engine), mode="http")
        shutdown_app(app)
        # auth.test went to TRIAGE_SLACK_API_URL, with the bot token.
        assert [c.token for c in stub.calls_to("auth.test")][-1] == BOT_TOKEN
    engine.dispose()


def test_socket_mode_handler_is_built_from_the_app_token(sqlite_url, settings_factory):
    from bot.server import socket_mode_handler

    engine = make_engine(sqlite_url)
    with SlackStub(token=BOT_TOKEN) as stub:
        settings = settings_factory(database_url=sqlite_url, slack_bot_token=BOT_TOKEN, slack_app_token="xapp-1-test",
                                    slack_api_url=stub.url)
        assert settings.effective_slack_mode == "socket"
        handler = socket_mode_handler(Services(settings, engine))
        assert handler.app_token == "xapp-1-test"
        assert handler.client.web_client.base_url == stub.url
        shutdown_app(handler.app)
        no_app_token = settings_factory(database_url=sqlite_url, slack_bot_token=BOT_TOKEN, slack_api_url=stub.url)
        with pytest.raises(BotConfigError, match="SLACK_APP_TOKEN"):
            socket_mode_handler(Services(no_app_token, engine))
    engine.dispose()


def test_serve_http_mounts_extra_routes(sqlite_url, settings_factory):
    from bot.server import serve_http

    engine = make_engine(sqlite_url)
    with SlackStub(token=BOT_TOKEN) as stub:
        settings = settings_factory(database_url=sqlite_url, slack_bot_token=BOT_TOKEN,
                                    slack_signing_secret=SIGNING_SECRET, slack_api_url=stub.url)

        def healthz(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]

        server = serve_http(Services(settings, engine), "127.0.0.1", 0, extra_routes={"/healthz": healthz})
        try:
            base = f"http://127.0.0.1:{server.port}"
            assert urllib.request.urlopen(base + "/healthz", timeout=5).read() == b"ok"
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(base + "/nothing", timeout=5)
            assert err.value.code == 404
            assert server.url == base + "/slack/events"
        finally:
            server.shutdown()
    engine.dispose()
