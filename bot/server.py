"""Running the bot: over HTTP (Bolt's WSGI adapter on a threaded wsgiref server) or Socket Mode.

`serve_http` is what `triage serve` mounts; it takes extra WSGI routes (health, metrics) so
one port serves everything. `wsgi_handler` gives just the Slack WSGI app for another server.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable
from wsgiref.simple_server import make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from triage.http import QuietHandler as _QuietHandler
from triage.http import ThreadingWSGIServer as _ThreadingWSGIServer
from triage.services import Services

from .app import build_app, shutdown_app

log = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"




def wsgi_handler(app: App, path: str = SLACK_PATH) -> SlackRequestHandler:
    """Bolt's WSGI app: POST `path` with Slack's signature headers; everything else 404."""
    return SlackRequestHandler(app, path=path)


def router(slack: Callable, extra_routes: dict[str, Callable] | None = None) -> Callable:
    """One WSGI app: Slack at /slack/..., the extra routes by exact path, else 404."""
    routes = dict(extra_routes or {})

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path in routes:
            return routes[path](environ, start_response)
        if path.startswith("/slack/"):
            return slack(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return app


class SlackHttpServer:
    """A running HTTP bot. `.url` is the request URL to give Slack (events, commands, interactivity)."""

    def __init__(self, app: App, host: str, port: int, extra_routes: dict[str, Callable] | None = None):
        self.app = app
        self.wsgi = router(wsgi_handler(app), extra_routes)
        self._server = make_server(host, port, self.wsgi, server_class=_ThreadingWSGIServer,
                                   handler_class=_QuietHandler)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-http", daemon=True)
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{SLACK_PATH}"

    def start(self) -> "SlackHttpServer":
        self._thread.start()
        log.info("slack bot listening", extra={"ctx_host": self.host, "ctx_port": self.port})
        return self

    def serve_forever(self) -> None:
        self._thread.join()

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop listening, then let the workers finish what they took (idempotent)."""
        if not self._closed:
            self._closed = True
            self._server.shutdown()
            self._server.server_close()
        shutdown_app(self.app, wait=wait)


def serve_http(services: Services, host: str | None = None, port: int | None = None, *,
               extra_routes: dict[str, Callable] | None = None, app: App | None = None) -> SlackHttpServer:
    """Build the app (auth.test against TRIAGE_SLACK_API_URL) and serve it in a thread; port 0 picks one."""
    settings = services.settings
    app = app or build_app(services, mode="http")
    return SlackHttpServer(app, host if host is not None else settings.http_host,
                           settings.http_port if port is None else port, extra_routes).start()


class SocketModeBot:
    def __init__(self, app: App, handler):
        self.app = app
        self.handler = handler

    def shutdown(self, *, wait: bool = True) -> None:
        self.handler.close()
        shutdown_app(self.app, wait=wait)


def socket_mode_handler(services: Services, app: App | None = None):
    """The Socket Mode adapter (not connected yet): needs SLACK_APP_TOKEN (xapp-...)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk import WebClient

    settings = services.settings
    if settings.slack_app_token is None:
        from .app import BotConfigError

        raise BotConfigError("SLACK_APP_TOKEN (an app-level token, xapp-...) is needed for Socket Mode")
    app = app or build_app(services, mode="socket")
    # apps.connections.open goes to the same Web API base URL as every other call.
    return SocketModeHandler(app, app_token=settings.slack_app_token.get_secret_value(),
                             web_client=WebClient(base_url=settings.slack_api_url, timeout=15))


def serve_socket_mode(services: Services, app: App | None = None) -> SocketModeBot:
    handler = socket_mode_handler(services, app)
    handler.connect()
    return SocketModeBot(handler.app, handler)
