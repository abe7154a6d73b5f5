"""Buttons, modals, slash commands and App Home: one function per interaction.

Each runs after Bolt's ack(); the ones that must answer inside the 3 seconds (options, modal
validation errors) say so. Only people the register knows as officers may change a concern
or see a risk card: in a Slack Connect channel anyone from a partner agency can press a button.
"""

from __future__ import annotations

import json
import logging

from slack_sdk.errors import SlackApiError

from models import Alert, Concern, Location, Officer
from triage import audit
from triage.corrections import apply_correction, mark_not_concern
from triage.pipeline import ConcernIn, after_labels_changed, concern_location_ids, ingest_concern, set_labels

from . import blocks, views
from .alerts import refresh_messages
from .context import BotContext
from .intake import update_reply

log = logging.getLogger(__name__)

OFFICERS_ONLY = "Only council QA officers listed in the register can do that."


# --- helpers ------------------------------------------------------------------------------------

def _user_id(body: dict) -> str | None:
    return (body.get("user") or {}).get("id") or body.get("user_id")


def _ephemeral(client, *, channel: str | None, user: str, text: str, blocks_: list[dict] | None = None,
               respond=None) -> None:
    """A message only `user` sees; via response_url when the bot cannot post in that channel."""
    if channel:
        try:
            client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks_)
            return
        except SlackApiError as err:
            log.info("postEphemeral failed", extra={"ctx_error": err.response.get("error")})
    if respond is not None:
        try:
            respond(text=text, blocks=blocks_, response_type="ephemeral", replace_original=False)
        except Exception as err:
            log.warning("respond failed", extra={"ctx_error": err.__class__.__name__})


def _officer(ctx: BotContext, user_id: str | None) -> Officer | None:
    with ctx.session() as s:
        return views.officer_for_slack_user(session=s, user_id=user_id)


def _channel_of(body: dict) -> str | None:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


def _action_value(body: dict) -> str:
    return (body.get("actions") or [{}])[0].get("value") or ""


def _state(view: dict) -> dict:
    return (view.get("state") or {}).get("values") or {}


def _selected(values: dict, block_id: str, action_id: str | None = None) -> list[str]:
    block = values.get(block_id) or {}
    el = block.get(action_id or block_id) or (next(iter(block.values())) if block else {})
    if el.get("selected_options") is not None:
        return [o["value"] for o in el["selected_options"]]
    if el.get("selected_option"):
        return [el["selected_option"]["value"]]
    return []


def _text_value(values: dict, block_id: str) -> str:
    block = values.get(block_id) or {}
    el = next(iter(block.values())) if block else {}
    return (el.get("value") or "").strip()


# --- "Correct tags" and "Not a concern" -----------------------------------------------------------

def open_correction(ctx: BotContext, client, body: dict) -> None:
    user = _user_id(body)
    officer = _officer(ctx, user)
    if officer is None:
        _ephemeral(client, channel=_channel_of(body), user=user, text=OFFICERS_ONLY)
        return
    concern_id = int(_action_value(body))
    with ctx.session() as s:
        concern = s.get(Concern, concern_id)
        if concern is None:
            return
        view = views.correction_view(session=s, concern=concern)
        # The modal shows the report's text to this officer: who saw what is audited.
        audit.record(session=s, actor=officer.officer_id, action="concern.viewed", entity_type="concern",
                     entity_id=concern.id, details={"via": "slack:correct_tags"})
        s.commit()
    client.views_open(trigger_id=body["trigger_id"], view=view)


def correction_labels(view: dict) -> dict:
    values = _state(view)
    urgency = _selected(values, "urgency")
    return {
        "providers": _selected(values, "homes", blocks.HOMES_SELECT),
        "domains": _selected(values, "domains"),
        "topics": _selected(values, "topics"),
        "safeguarding": _selected(values, "safeguarding"),
        "urgency": urgency[0] if urgency else "none",
    }


def submit_correction(ctx: BotContext, client, body: dict, view: dict) -> None:
    user = _user_id(body)
    officer = _officer(ctx, user)
    if officer is None:
        return
    meta = json.loads(view.get("private_metadata") or "{}")
    labels = correction_labels(view)
    with ctx.session() as s:
        concern = s.get(Concern, int(meta["concern_id"]))
        if concern is None:
            return
        result = apply_correction(session=s, concern=concern, labels=labels, actor=officer.officer_id,
                                  services=ctx.services)
        log.info("concern corrected", extra={"ctx_concern": concern.reference, "ctx_changed": result.changed,
                                             "ctx_alerts": len(result.alerts)})
    update_reply(ctx, client, concern_id=concern.id)
    ctx.dispatch_pending()


def not_a_concern(ctx: BotContext, client, body: dict) -> None:
    user = _user_id(body)
    officer = _officer(ctx, user)
    if officer is None:
        _ephemeral(client, channel=_channel_of(body), user=user, text=OFFICERS_ONLY)
        return
    with ctx.session() as s:
        concern = s.get(Concern, int(_action_value(body)))
        if concern is None or concern.status == "not_concern":
            return
        mark_not_concern(session=s, concern=concern, actor=officer.officer_id, services=ctx.services)
        log.info("marked not a concern", extra={"ctx_concern": concern.reference})
    update_reply(ctx, client, concern_id=concern.id)
    ctx.dispatch_pending()


def home_options(ctx: BotContext, body: dict) -> list[dict]:
    """Options for the home selects, answered inside ack() as Slack requires."""
    with ctx.session() as s:
        return blocks.home_options(views.search_homes(session=s, query=body.get("value") or ""))


# --- /concern ------------------------------------------------------------------------------------

def open_concern_modal(ctx: BotContext, client, command: dict) -> None:
    client.views_open(trigger_id=command["trigger_id"], view=blocks.concern_modal(channel_id=command.get("channel_id")))


def concern_modal_errors(view: dict) -> dict | None:
    """Checked before ack() so the officer sees the problem in the modal."""
    if len(_text_value(_state(view), "text")) < 10:
        return {"text": "Please describe the concern (at least 10 characters)."}
    return None


def submit_concern(ctx: BotContext, client, body: dict, view: dict) -> Concern | None:
    user = _user_id(body)
    values = _state(view)
    text = _text_value(values, "text")
    home = _selected(values, "home", blocks.HOME_SELECT)
    with ctx.session() as s:
        actor = views.actor_for(session=s, user_id=user)
    sender = ctx.directory.user(client, user)["name"] if user else None
    concern_in = ConcernIn(source="manual", external_id=f"slack-modal:{view.get('id')}", text=text, sender=sender,
                           channel="slack:/concern", actor=actor)
    with ctx.session() as s:
        result = ingest_concern(session=s, concern_in=concern_in, services=ctx.services)
        concern = result.concern
        if home and result.outcome == "stored" and s.get(Location, home[0]) is not None \
                and home[0] not in concern_location_ids(session=s, concern=concern):
            # The officer named the home: it counts even where the model did not spot it.
            labels = {"providers": [*concern_location_ids(session=s, concern=concern), home[0]],
                      "domains": concern.domains, "topics": concern.topics, "safeguarding": concern.safeguarding,
                      "urgency": concern.urgency or "none"}
            set_labels(session=s, concern=concern, labels=labels)
            audit.record(session=s, actor=actor, action="concern.home_set", entity_type="concern",
                         entity_id=concern.id, details={"location_id": home[0]})
            after_labels_changed(session=s, concern=concern, services=ctx.services)
            s.commit()
        text_, blocks_ = views.concern_reply(session=s, concern=concern)
        has_reply = bool(concern.slack_reply_ts)
    log.info("manual concern logged", extra={"ctx_concern": concern.reference, "ctx_outcome": result.outcome})
    if not has_reply and user:
        # A DM (not an ephemeral) so the tags can be edited after a correction.
        try:
            resp = client.chat_postMessage(channel=user, text=text_, blocks=blocks_)
            with ctx.session() as s:
                c = s.get(Concern, concern.id)
                c.slack_channel, c.slack_reply_ts = resp["channel"], resp["ts"]
                s.add(c)
                s.commit()
        except SlackApiError as err:
            log.warning("concern confirmation failed", extra={"ctx_error": err.response.get("error")})
    ctx.dispatch_pending()
    return concern


# --- /risk HOME -------------------------------------------------------------------------------------

def risk_command(ctx: BotContext, client, command: dict, respond=None) -> None:
    user, channel = command.get("user_id"), command.get("channel_id")
    query = (command.get("text") or "").strip()
    officer = _officer(ctx, user)
    if officer is None:
        _ephemeral(client, channel=channel, user=user, text=OFFICERS_ONLY, respond=respond)
        return
    if not query:
        _ephemeral(client, channel=channel, user=user, respond=respond,
                   text="Usage: `/risk HOME` — a home's name or CQC location ID, e.g. `/risk Meadow View`.")
        return
    with ctx.session() as s:
        matches = views.find_homes(session=s, query=query)
        exact = [m for m in matches if m.location_id == query or m.name.lower() == query.lower()]
        if len(exact) == 1:
            matches = exact
        if len(matches) != 1:
            text, blocks_ = blocks.choose_home(query, [(m.location_id, views.location_display(m)) for m in matches])
        else:
            text, blocks_ = views.risk_card(session=s, location=matches[0], settings=ctx.settings)
            audit.record(session=s, actor=officer.officer_id, action="location.viewed", entity_type="location",
                         entity_id=matches[0].location_id, details={"via": "slack:/risk"})
            s.commit()
    _ephemeral(client, channel=channel, user=user, text=text, blocks_=blocks_, respond=respond)


# --- alerts: Acknowledge, Reassign -------------------------------------------------------------------

def _chain_ids(session, alert: Alert) -> list[int]:
    from triage.risk.alerts import chain

    return [a.id for a in chain(session=session, alert=alert)]


def acknowledge(ctx: BotContext, client, body: dict) -> None:
    from triage.risk.alerts import AlertError, acknowledge_alert

    user = _user_id(body)
    alert_id = int(_action_value(body))
    with ctx.session() as s:
        actor = views.actor_for(session=s, user_id=user)
        try:
            alert = acknowledge_alert(session=s, alert_id=alert_id, actor=actor, services=ctx.services)
        except AlertError as err:
            s.rollback()
            _ephemeral(client, channel=_channel_of(body), user=user, text=f"Could not acknowledge: {err}.")
            return
        s.commit()
        ids = _chain_ids(s, alert)
        log.info("alert acknowledged", extra={"ctx_alert": alert_id, "ctx_actor": actor})
        refresh_messages(session=s, client=client, alert_ids=ids, settings=ctx.settings)
    ctx.dispatch_pending()


def open_reassign(ctx: BotContext, client, body: dict) -> None:
    alert_id = int(_action_value(body))
    with ctx.session() as s:
        alert = s.get(Alert, alert_id)
        if alert is None:
            return
        from sqlmodel import select

        officers = s.exec(select(Officer).where(Officer.active == True, Officer.officer_id != alert.recipient_id)  # noqa: E712
                          .order_by(Officer.name)).all()
        choices = [(o.officer_id, f"{o.name} ({o.role})") for o in officers]
    view = blocks.reassign_modal(alert_id=alert_id, officers=choices, metadata={"channel": _channel_of(body)})
    client.views_open(trigger_id=body["trigger_id"], view=view)


def submit_reassign(ctx: BotContext, client, body: dict, view: dict) -> None:
    from triage.risk.alerts import AlertError, reassign_alert

    user = _user_id(body)
    meta = json.loads(view.get("private_metadata") or "{}")
    chosen = _selected(_state(view), "officer")
    if not chosen:
        return
    with ctx.session() as s:
        actor = views.actor_for(session=s, user_id=user)
        old = s.get(Alert, int(meta["alert_id"]))
        try:
            new = reassign_alert(session=s, alert_id=old.id, to_officer_id=chosen[0], actor=actor,
                                 services=ctx.services)
        except AlertError as err:
            s.rollback()
            _ephemeral(client, channel=meta.get("channel"), user=user, text=f"Could not reassign: {err}.")
            return
        s.commit()
        ids = _chain_ids(s, old)
        log.info("alert reassigned", extra={"ctx_alert": old.id, "ctx_new_alert": new.id})
        refresh_messages(session=s, client=client, alert_ids=ids, settings=ctx.settings)
    ctx.dispatch_pending()


# --- App Home --------------------------------------------------------------------------------------

def publish_home(ctx: BotContext, client, event: dict) -> None:
    if event.get("tab", "home") != "home":
        return
    user = event["user"]
    with ctx.session() as s:
        officer = views.officer_for_slack_user(session=s, user_id=user)
        view, shown = views.app_home(session=s, officer=officer, settings=ctx.settings)
        if officer is not None:
            audit.record(session=s, actor=officer.officer_id, action="app_home.viewed", entity_type="officer",
                         entity_id=officer.officer_id, details={"concerns": shown})
            s.commit()
    client.views_publish(user_id=user, view=view)
