"""Every scheduled job of `triage serve`, registered explicitly in one place."""

from __future__ import annotations

import logging
import threading

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from . import clock
from .services import Services

log = logging.getLogger(__name__)


def register_jobs(scheduler: BaseScheduler, services: Services, stop_event: threading.Event | None = None) -> list[str]:
    """Add the product's jobs; returns their IDs (for the start-up banner)."""
    from .risk.jobs import register_jobs as register_risk_jobs

    ids = list(register_risk_jobs(scheduler, services) or [])
    settings = services.settings
    if settings.imap_enabled:
        stop_event = stop_event or threading.Event()
        if settings.imap_use_idle:
            # One long-running job: it holds the mailbox (and its cross-process lock) until
            # shutdown; in another process it waits and takes over when the holder goes.
            scheduler.add_job(mail_job, "date", run_date=clock.now(), args=[services, stop_event], id="mail",
                              name="read the shared mailbox (IDLE)", replace_existing=True, max_instances=1,
                              jobstore="memory")
        else:
            scheduler.add_job(mail_job, "interval", seconds=settings.imap_poll_seconds, args=[services, stop_event],
                              id="mail", name="read the shared mailbox (polling)", replace_existing=True,
                              max_instances=1, coalesce=True, next_run_time=clock.now(), jobstore="memory")
        ids.append("mail")
    if settings.effective_slack_mode != "off":
        scheduler.add_job(slack_reply_job, "interval", seconds=60, args=[services], id="slack.replies",
                          name="post thread replies that failed", replace_existing=True, max_instances=1,
                          coalesce=True, jobstore="memory")
        ids.append("slack.replies")
    if settings.retrain_cron:
        scheduler.add_job(retrain_job, CronTrigger.from_crontab(settings.retrain_cron, timezone=settings.timezone),
                          args=[services], id="retrain", name="retrain classifier", replace_existing=True,
                          max_instances=1, coalesce=True, jobstore="memory")
        ids.append("retrain")
    return ids


def retrain_job(services: Services) -> None:
    """Retrain on the shipped data plus officers' corrections; swap the model in only if it loads."""
    from classifiers import load_classifier

    from .cli.classify import train
    from .risk.jobs import _guarded

    def work():
        # The same path as `triage train`: training data + corrections, versioned artefact.
        train.main(args=[], standalone_mode=False)
        services.set_classifier(load_classifier(services.settings.model_dir))
        log.info("retrained classifier", extra={"ctx_version": services.classifier.version})

    # On failure _guarded logs it and the previous model stays in use.
    _guarded("job:retrain", services, work)


def slack_reply_job(services: Services) -> None:
    from bot.context import BotContext
    from bot.intake import post_missing_replies

    from .risk.jobs import _guarded

    client = services.slack_client
    if client is None:
        return
    _guarded("job:slack.replies", services, lambda: post_missing_replies(BotContext(services=services), client))


def mail_job(services: Services, stop_event: threading.Event) -> None:
    from mail_ingest.job import run_forever, run_once

    if not services.settings.imap_use_idle:
        try:
            summary = run_once(services)
            if summary.fetched:
                log.info("mail drained", extra={"ctx_summary": summary.as_dict()})
        except Exception:
            log.exception("mail job failed; it runs again at the next interval")
        return
    delay = 1.0
    while not stop_event.is_set():
        try:
            run_forever(services, stop_event)
        except Exception:
            log.exception("mail reader stopped unexpectedly; restarting in %.0fs", delay)
            stop_event.wait(delay)
            delay = min(delay * 2, services.settings.imap_max_backoff_seconds)
