"""Channel posts become concerns; edits re-classify, deletions withdraw, thread replies attach.

Runs on Bolt's worker threads after the event was acknowledged. Each function opens its own
session and commits before talking to Slack again.

Thread replies: a human reply in a concern's thread is stored as a *child concern*
(`Concern.parent_id` = the thread's concern) and classified and routed in its own right,
because replies like "she has another bruise today" carry new intelligence. The bot only
answers a reply in the thread when the reply was classified as needing attention
(urgency above none), so "thanks, noted" gets no bot noise.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from slack_sdk.errors import SlackApiError

from models import Concern
from triage import audit, clock
from triage.corrections import reclassify_edited, withdraw
from triage.pipeline import ConcernIn, find_arrival, ingest_concern

from . import views
from .context import BotContext

log = logging.getLogger(__name__)

# Subtypes that are a person's post with text worth triaging.
POST_SUBTYPES = (None, "file_share", "thread_broadcast", "me_message")


def external_id(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def is_bot_message(message: dict, ctx: BotContext | None = None) -> bool:
    if message.get("subtype") == "bot_message" or message.get("bot_id") or message.get("bot_profile"):
        return True
    return bool(ctx and ctx.bot_user_id and message.get("user") == ctx.bot_user_id)


def is_thread_reply(message: dict) -> bool:
    return bool(message.get("thread_ts")) and message.get("thread_ts") != message.get("ts")


def _posted_at(ts: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), tz=timezone.utc)
    except (TypeError, ValueError):
        return clock.now()


def _sender(ctx: BotContext, client, message: dict) -> str | None:
    profile = message.get("user_profile") or {}
    # Shared-channel events carry the poster's profile: no users.info call needed.
    if profile.get("real_name") or profile.get("display_name"):
        return profile.get("real_name") or profile.get("display_name")
    user = message.get("user")
    return ctx.directory.user(client, user)["name"] if user else None


def _post_reply(ctx: BotContext, client, *, concern: Concern, channel: str, thread_ts: str) -> str | None:
    with ctx.session() as s:
        c = s.get(Concern, concern.id)
        text, blocks = views.concern_reply(session=s, concern=c)
    try:
        resp = client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks,
                                       unfurl_links=False, unfurl_media=False)
    except SlackApiError as err:
        log.warning("thread reply failed", extra={"ctx_concern": concern.reference,
                                                  "ctx_error": err.response.get("error")})
        return None
    with ctx.session() as s:
        c = s.get(Concern, concern.id)
        c.slack_reply_ts = resp["ts"]
        if c.slack_channel is None:
            c.slack_channel = resp.get("channel") or channel
        s.add(c)
        s.commit()
    return resp["ts"]


def update_reply(ctx: BotContext, client, *, concern_id: int) -> bool:
    """Edit the bot's triage reply to show the concern's current tags and status."""
    with ctx.session() as s:
        c = s.get(Concern, concern_id)
        if c is None or not (c.slack_channel and c.slack_reply_ts):
            return False
        text, blocks = views.concern_reply(session=s, concern=c)
        channel, ts = c.slack_channel, c.slack_reply_ts
    try:
        client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    except SlackApiError as err:
        log.warning("reply update failed", extra={"ctx_concern": concern_id, "ctx_error": err.response.get("error")})
        return False
    return True


def _concern_in(ctx: BotContext, client, message: dict, *, channel: str, channel_name: str, text: str) -> ConcernIn:
    ts = message["ts"]
    return ConcernIn(
        source="slack", external_id=external_id(channel, ts), text=text, received_at=_posted_at(ts),
        sender=_sender(ctx, client, message), channel=f"#{channel_name}", slack_channel=channel, slack_ts=ts,
        actor=f"slack:{message.get('user') or 'unknown'}",
    )


def handle_post(ctx: BotContext, client, message: dict, *, channel: str) -> Concern | None:
    """A new top-level post (or a reply whose thread we do not know)."""
    text = (message.get("text") or "").strip()
    ts = message["ts"]
    if not text:
        return None
    with ctx.message_lock(channel, ts):
        info = ctx.directory.channel(client, channel)
        concern_in = _concern_in(ctx, client, message, channel=channel, channel_name=info["name"], text=text)
        with ctx.session() as s:
            result = ingest_concern(session=s, concern_in=concern_in, services=ctx.services)
            concern = result.concern
            already_replied = bool(concern.slack_reply_ts)
            log.info("slack post ingested", extra={"ctx_concern": concern.reference, "ctx_outcome": result.outcome,
                                                   "ctx_channel": channel, "ctx_shared": info["is_ext_shared"]})
        if result.outcome == "duplicate":
            _post_duplicate_note(client, channel=channel, ts=ts, reference=concern.reference)
        elif not already_replied:
            _post_reply(ctx, client, concern=concern, channel=channel, thread_ts=ts)
    ctx.dispatch_pending()
    return concern


def _post_duplicate_note(client, *, channel: str, ts: str, reference: str) -> None:
    try:
        client.chat_postMessage(channel=channel, thread_ts=ts, text=f"Already logged as concern {reference}.",
                                unfurl_links=False)
    except SlackApiError as err:
        log.warning("duplicate note failed", extra={"ctx_error": err.response.get("error")})


def _answers_thread_reply(child: Concern) -> bool:
    # "thanks, noted" in a thread gets no bot noise; a reply carrying news gets its tags.
    return (child.urgency or "none") != "none"


def handle_thread_reply(ctx: BotContext, client, message: dict, *, channel: str) -> Concern | None:
    thread_ts = message["thread_ts"]
    with ctx.session() as s:
        parent = find_arrival(session=s, source="slack", external_id=external_id(channel, thread_ts))
    if parent is None:
        return handle_post(ctx, client, message, channel=channel)
    text = (message.get("text") or "").strip()
    ts = message["ts"]
    if not text:
        return None
    with ctx.message_lock(channel, ts):
        info = ctx.directory.channel(client, channel)
        concern_in = _concern_in(ctx, client, message, channel=channel, channel_name=info["name"], text=text)
        with ctx.session() as s:
            result = ingest_concern(session=s, concern_in=concern_in, services=ctx.services)
            child = result.concern
            if result.outcome == "stored":
                child.parent_id = parent.id
                s.add(child)
                audit.record(session=s, actor=concern_in.actor, action="concern.thread_reply", entity_type="concern",
                             entity_id=child.id, details={"parent": parent.id, "parent_reference": parent.reference})
                s.commit()
            needs_reply = result.outcome == "stored" and _answers_thread_reply(child) and not child.slack_reply_ts
        if needs_reply:
            _post_reply(ctx, client, concern=child, channel=channel, thread_ts=thread_ts)
    ctx.dispatch_pending()
    return child


def handle_edit(ctx: BotContext, client, event: dict) -> Concern | None:
    channel = event.get("channel")
    new, old = event.get("message") or {}, event.get("previous_message") or {}
    if not channel or not new.get("ts") or is_bot_message(new, ctx):
        return None
    if new.get("subtype") == "tombstone":  # a thread parent deleted while replies remain
        return handle_delete(ctx, client, {"channel": channel, "deleted_ts": new["ts"]})
    text = (new.get("text") or "").strip()
    if not text or text == (old.get("text") or "").strip():
        return None  # link unfurls and reply counters also arrive as message_changed
    with ctx.message_lock(channel, new["ts"]):
        with ctx.session() as s:
            concern = find_arrival(session=s, source="slack", external_id=external_id(channel, new["ts"]))
            if concern is not None and concern.status not in ("withdrawn",):
                result = reclassify_edited(session=s, concern=concern, text=text, actor=f"slack:{new.get('user') or 'unknown'}",
                                           services=ctx.services)
                log.info("slack post edited", extra={"ctx_concern": concern.reference, "ctx_changed": result.changed})
    if concern is None:
        # Never seen (posted before the bot joined, or the post's event was lost): take it now.
        msg = dict(new)
        msg.setdefault("channel", channel)
        return handle_thread_reply(ctx, client, msg, channel=channel) if is_thread_reply(msg) \
            else handle_post(ctx, client, msg, channel=channel)
    if concern.status == "withdrawn":
        return concern
    update_reply(ctx, client, concern_id=concern.id)
    ctx.dispatch_pending()
    return concern


def handle_delete(ctx: BotContext, client, event: dict) -> Concern | None:
    channel, ts = event.get("channel"), event.get("deleted_ts") or (event.get("previous_message") or {}).get("ts")
    if not channel or not ts:
        return None
    prev = event.get("previous_message") or {}
    if prev and is_bot_message(prev, ctx):
        return None
    with ctx.message_lock(channel, ts):
        with ctx.session() as s:
            concern = find_arrival(session=s, source="slack", external_id=external_id(channel, ts))
            if concern is None:
                return None
            withdraw(session=s, concern=concern, actor=f"slack:{prev.get('user') or 'unknown'}", services=ctx.services,
                     why="slack post deleted")
            log.info("slack post deleted", extra={"ctx_concern": concern.reference})
    update_reply(ctx, client, concern_id=concern.id)
    ctx.dispatch_pending()
    return concern


def post_missing_replies(ctx: BotContext, client, *, min_age_seconds: float = 120,
                         max_age_hours: float = 24) -> int:
    """Post the triage reply for Slack concerns whose first attempt failed (Slack down, rate limited).

    The concern itself was stored either way; without its reply the poster never sees the
    reference or the *Correct tags* button. `min_age_seconds` leaves a post whose handler is
    still running alone, so the sweep never doubles a reply.
    """
    from datetime import timedelta

    from sqlmodel import select

    now = clock.now()
    with ctx.session() as s:
        rows = s.exec(select(Concern).where(
            Concern.source == "slack", Concern.slack_ts.is_not(None), Concern.slack_channel.is_not(None),
            Concern.slack_reply_ts.is_(None), Concern.status.not_in(("withdrawn", "not_concern")),
            Concern.created_at <= now - timedelta(seconds=min_age_seconds),
            Concern.created_at >= now - timedelta(hours=max_age_hours))).all()
        todo = []
        for c in rows:
            if c.parent_id is None:
                todo.append((c, c.slack_ts))
            elif _answers_thread_reply(c):
                parent = s.get(Concern, c.parent_id)
                if parent is not None and parent.slack_ts:
                    todo.append((c, parent.slack_ts))
    posted = 0
    for concern, thread_ts in todo:
        with ctx.message_lock(concern.slack_channel, concern.slack_ts):
            with ctx.session() as s:
                if s.get(Concern, concern.id).slack_reply_ts:
                    continue
            if _post_reply(ctx, client, concern=concern, channel=concern.slack_channel, thread_ts=thread_ts):
                posted += 1
                log.info("late thread reply posted", extra={"ctx_concern": concern.reference})
    return posted
