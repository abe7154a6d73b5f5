"""The HTTP face of `triage serve`: health, readiness, metrics and (in HTTP mode) Slack."""

from __future__ import annotations

import json
import logging
import socketserver
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import sqlalchemy as sa

from . import metrics
from .services import Services

log = logging.getLogger(__name__)


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - wsgiref's signature
        # Request lines can carry Slack payload IDs; keep them at DEBUG.
        log.debug("http %s", format % args)


def readiness(services: Services) -> tuple[bool, dict]:
    checks: dict[str, str] = {}
    try:
        with services.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["store"] = "ok"
    except Exception as err:
        checks["store"] = f"error: {err.__class__.__name__}"
    try:
        clf = services.classifier
        checks["model"] = f"ok ({getattr(clf, 'version', 'loaded')})"
    except Exception as err:
        checks["model"] = f"error: {err}"
    return all(v.startswith("ok") for v in checks.values()), checks


def build_wsgi_app(services: Services, slack_handler=None):
    """A tiny router; `slack_handler` is Bolt's WSGI SlackRequestHandler when Slack runs over HTTP."""

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status": "ok"}']
        if path == "/readyz":
            ok, checks = readiness(services)
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
            return [json.dumps({"ready": ok, "checks": checks}).encode()]
        if path == "/metrics":
            body = metrics.render(services.engine)
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4")])
            return [body]
        if path.startswith("/slack/") and slack_handler is not None:
            return slack_handler(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return app


class HttpServer:
    def __init__(self, app, host: str, port: int):
        self._server = make_server(host, port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    def start(self) -> "HttpServer":
        self._thread.start()
        return self

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
