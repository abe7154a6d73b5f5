"""`triage serve`: the scheduler, the mail reader, Slack and the HTTP endpoints in one process.

Parts without configuration are off and the banner says so. SIGTERM/SIGINT stop new
work, let running jobs finish (mail is only moved after it is stored, so anything
abandoned is simply re-read next start) and close the store.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field

from .config import Settings
from .db import migrate
from .http import HttpServer, build_wsgi_app
from .logging_setup import configure_logging
from .services import Services

log = logging.getLogger("triage.serve")


@dataclass
class RunningService:
    services: Services
    http: HttpServer | None = None
    scheduler: object | None = None
    socket_handler: object | None = None
    bolt_app: object | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    parts: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.http.host}:{self.http.port}" if self.http else ""

    def stop(self) -> None:
        self.stop_event.set()
        if self.scheduler is not None:
            try:
                self.scheduler.shutdown(wait=True)
            except Exception:  # already stopped
                pass
        if self.socket_handler is not None:
            try:
                self.socket_handler.close()
            except Exception:
                pass
        if self.http is not None:
            self.http.shutdown()
        if self.bolt_app is not None:
            from bot.app import shutdown_app

            shutdown_app(self.bolt_app, wait=True)  # finish Slack work already accepted
        self.services.engine.dispose()


def start_service(settings: Settings, *, services: Services | None = None, run_jobs: bool = True) -> RunningService:
    migrate(settings.database_url)
    services = services or Services.from_settings(settings)
    running = RunningService(services=services)
    try:
        services.classifier  # load now: a missing model is said at start-up, not at the first concern
        running.parts["classifier"] = f"loaded ({getattr(services.classifier, 'version', '?')})"
    except Exception as err:
        running.parts["classifier"] = f"NOT READY: {err}"

    slack_handler = None
    mode = settings.effective_slack_mode
    if mode in ("http", "socket"):
        from bot.app import build_app

        bolt_app = build_app(services, mode=mode)
        running.bolt_app = bolt_app
        if mode == "http":
            from bot.server import wsgi_handler

            slack_handler = wsgi_handler(bolt_app)
            running.parts["slack"] = "on (HTTP mode, events at /slack/events)"
        else:
            from bot.server import socket_mode_handler

            # Their handler talks to TRIAGE_SLACK_API_URL, not always slack.com.
            running.socket_handler = socket_mode_handler(services, app=bolt_app)
            running.socket_handler.connect()
            running.parts["slack"] = "on (Socket Mode)"
    else:
        running.parts["slack"] = "off (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET or SLACK_APP_TOKEN)"

    running.http = HttpServer(build_wsgi_app(services, slack_handler), settings.http_host, settings.http_port).start()
    running.parts["http"] = f"on http://{running.http.host}:{running.http.port} (/healthz /readyz /metrics)"

    running.parts["mail"] = (f"on ({settings.imap_user}@{settings.imap_host}:{settings.imap_port}/{settings.imap_folder}, "
                             f"{'IDLE' if settings.imap_use_idle else 'polling'})" if settings.imap_enabled
                             else "off (set TRIAGE_IMAP_HOST, _USER, _PASSWORD)")
    running.parts["email alerts"] = "on" if settings.smtp_enabled and settings.alert_via_email else "off (set TRIAGE_SMTP_HOST)"
    if run_jobs:
        from .jobs import register_jobs
        from .risk.scheduling import get_scheduler

        scheduler = get_scheduler(services)
        job_ids = register_jobs(scheduler, services, running.stop_event)
        if getattr(scheduler, "state", 0) == 2:  # started paused by someone: run now
            scheduler.resume()
        elif not scheduler.running:
            scheduler.start()
        running.scheduler = scheduler
        running.parts["scheduler"] = f"on ({len(job_ids)} jobs: {', '.join(job_ids)})"
    return running


def serve_forever(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    running = start_service(settings)
    for part, state in running.parts.items():
        log.info("%-13s %s", part, state)
    done = threading.Event()

    def _stop(signum, _frame):
        log.info("received %s, stopping", signal.Signals(signum).name)
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    done.wait()
    running.stop()
    log.info("stopped cleanly")
