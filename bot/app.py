"""The Bolt app: listeners registered one by one, each a few lines that call bot.intake /
bot.interactions.

Bolt acknowledges events at once and runs listeners on `listener_executor` (a pool this app
owns); interactive listeners call ack() first thing. Listeners only ack, open modals and hand
the real work (classification, corrections, alerts) to the BotContext's worker pool, so the
HTTP response is back inside Slack's 3 seconds and a burst of posts never delays a button's ack.
Every kind of request Slack may send gets a listener, so Bolt never answers 404 (which Slack
would retry).
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App

from triage.services import Services

from . import blocks, interactions
from .context import BotContext
from .intake import POST_SUBTYPES, handle_delete, handle_edit, handle_post, handle_thread_reply, is_bot_message, is_thread_reply

log = logging.getLogger(__name__)

LISTENERS = 8


class BotConfigError(RuntimeError):
    pass


def _retry_info(request) -> tuple[str | None, str | None]:
    headers = request.headers if request is not None else {}
    num = (headers.get("x-slack-retry-num") or [None])[0]
    reason = (headers.get("x-slack-retry-reason") or [None])[0]
    return num, reason


def _first_delivery(ctx: BotContext, body: dict, request) -> bool:
    """Skip Slack's retries of an event already taken (the event ID is recorded in the store)."""
    from .dedupe import claim_event

    event_id = body.get("event_id")
    if not event_id:
        return True
    with ctx.session() as s:
        first = claim_event(session=s, event_id=event_id)
    if not first:
        num, reason = _retry_info(request)
        log.info("slack event already processed", extra={"ctx_event": event_id, "ctx_retry_num": num,
                                                         "ctx_retry_reason": reason})
    return first


def _learn_identity(ctx: BotContext, context) -> None:
    if ctx.bot_user_id is None and context is not None:
        ctx.bot_user_id = context.get("bot_user_id")
        ctx.bot_id = context.get("bot_id")


def build_app(services: Services, *, mode: str | None = None, executor: ThreadPoolExecutor | None = None) -> App:
    """A Bolt app for HTTP (`mode="http"`, signature verification on) or Socket Mode; calls auth.test."""
    settings = services.settings
    mode = mode or settings.effective_slack_mode
    if settings.slack_bot_token is None:
        raise BotConfigError("SLACK_BOT_TOKEN is not set; the Slack bot cannot start")
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    if mode == "http" and not secret:
        raise BotConfigError("SLACK_SIGNING_SECRET is needed for Slack over HTTP (or set SLACK_APP_TOKEN for Socket Mode)")
    # Bolt's listener pool: listeners ack, open modals (trigger IDs expire in 3 s) and queue the rest.
    executor = executor or ThreadPoolExecutor(max_workers=LISTENERS, thread_name_prefix="slack-listener")
    # The token travels in the client (whose base_url is TRIAGE_SLACK_API_URL); Bolt reads it from there
    # and calls auth.test with it at start-up.
    app = App(
        name="care-concern-triage",
        signing_secret=secret,
        client=services.slack_client,
        listener_executor=executor,
        process_before_response=False,
        request_verification_enabled=(mode != "socket"),
        logger=logging.getLogger("bot.bolt"),
    )
    ctx = BotContext(services)
    app.triage_context = ctx  # type: ignore[attr-defined]
    app.triage_executor = executor  # type: ignore[attr-defined]
    _register(app, ctx)
    return app


def _register(app: App, ctx: BotContext) -> None:
    # --- channel messages (order matters: Bolt runs the first listener that matches) -------------
    def on_edit(body, event, client, context, request):
        _learn_identity(ctx, context)
        if _first_delivery(ctx, body, request):
            ctx.submit(handle_edit, ctx, client, event)

    def on_delete(body, event, client, context, request):
        _learn_identity(ctx, context)
        if _first_delivery(ctx, body, request):
            ctx.submit(handle_delete, ctx, client, event)

    def on_post(body, event, client, context, request):
        _learn_identity(ctx, context)
        if is_bot_message(event, ctx) or event.get("channel_type") == "im":
            return
        if not _first_delivery(ctx, body, request):
            return
        handler = handle_thread_reply if is_thread_reply(event) else handle_post
        ctx.submit(handler, ctx, client, event, channel=event["channel"])

    def ignore_event(body):
        log.debug("slack event ignored", extra={"ctx_type": (body.get("event") or {}).get("type"),
                                                "ctx_subtype": (body.get("event") or {}).get("subtype")})

    def on_home(event, client):
        ctx.submit(interactions.publish_home, ctx, client, event)

    app.event({"type": "message", "subtype": "message_changed"})(on_edit)
    app.event({"type": "message", "subtype": "message_deleted"})(on_delete)
    app.event({"type": "message", "subtype": list(POST_SUBTYPES)})(on_post)
    app.event("message")(ignore_event)  # bot_message, channel_join, channel_topic ...
    app.event("app_home_opened")(on_home)
    app.event(re.compile(".*"))(ignore_event)

    # --- buttons ---------------------------------------------------------------------------------
    def correct_tags(ack, body, client):
        ack()
        interactions.open_correction(ctx, client, body)

    def not_concern(ack, body, client):
        ack()
        ctx.submit(interactions.not_a_concern, ctx, client, body)

    def alert_ack(ack, body, client):
        ack()
        ctx.submit(interactions.acknowledge, ctx, client, body)

    def alert_reassign(ack, body, client):
        ack()
        interactions.open_reassign(ctx, client, body)

    def link_button(ack):
        ack()  # URL buttons still send a payload; it needs an answer

    app.action(blocks.CORRECT_TAGS)(correct_tags)
    app.action(blocks.NOT_CONCERN)(not_concern)
    app.action(blocks.ALERT_ACK)(alert_ack)
    app.action(blocks.ALERT_REASSIGN)(alert_reassign)
    app.action(re.compile(".*"))(link_button)

    # --- external select options (answered inside ack) --------------------------------------------
    def home_options(ack, body):
        ack(options=interactions.home_options(ctx, body))

    app.options(blocks.HOMES_SELECT)(home_options)
    app.options(blocks.HOME_SELECT)(home_options)

    # --- modals -------------------------------------------------------------------------------------
    def correction_submitted(ack, body, view, client):
        ack()
        ctx.submit(interactions.submit_correction, ctx, client, body, view)

    def concern_submitted(ack, body, view, client):
        errors = interactions.concern_modal_errors(view)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        ctx.submit(interactions.submit_concern, ctx, client, body, view)

    def reassign_submitted(ack, body, view, client):
        ack()
        ctx.submit(interactions.submit_reassign, ctx, client, body, view)

    def view_closed(ack):
        ack()

    app.view(blocks.CORRECTION_VIEW)(correction_submitted)
    app.view(blocks.CONCERN_VIEW)(concern_submitted)
    app.view(blocks.REASSIGN_VIEW)(reassign_submitted)
    app.view_closed(re.compile(".*"))(view_closed)

    # --- slash commands ---------------------------------------------------------------------------------
    def concern_command(ack, command, client):
        ack()
        interactions.open_concern_modal(ctx, client, command)

    def risk_command(ack, command, client, respond):
        ack()
        ctx.submit(interactions.risk_command, ctx, client, command, respond=respond)

    app.command("/concern")(concern_command)
    app.command("/risk")(risk_command)

    @app.error
    def on_error(error, body):
        kind = body.get("type") if isinstance(body, dict) else None
        log.error("slack listener failed", exc_info=error, extra={"ctx_type": kind})


def shutdown_app(app: App, *, wait: bool = True) -> None:
    """Stop taking work and (by default) let the running listeners and the work they queued finish."""
    executor = getattr(app, "triage_executor", None)
    if executor is not None:
        executor.shutdown(wait=wait)
    ctx = getattr(app, "triage_context", None)
    if ctx is not None:
        ctx.workers.shutdown(wait=wait)


def manifest_text() -> str:
    from importlib.resources import files

    return files("bot").joinpath("manifest.yml").read_text()


__all__ = ["BotConfigError", "build_app", "manifest_text", "shutdown_app"]
