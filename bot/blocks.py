"""Block Kit built by pure functions: plain values in, Slack JSON out.

Nothing here touches the store or the network, so every message and view the bot sends
can be checked in a test by looking at the dict. `bot.views` turns rows into the plain
values these functions take.
"""

from __future__ import annotations

import json
from typing import Iterable

from .vocab import DOMAINS, SAFEGUARDING, TOPICS, URGENCIES, label

# action_id / callback_id names: the listeners in bot.app match on these.
CORRECT_TAGS = "correct_tags"
NOT_CONCERN = "not_concern"
ALERT_ACK = "alert_ack"
ALERT_REASSIGN = "alert_reassign"
ALERT_OPEN = "alert_open"
HOME_OPEN = "home_open_concern"
HOMES_SELECT = "homes_select"  # multi_external_select in the correction modal
HOME_SELECT = "home_select"  # external_select in the /concern modal
CORRECTION_VIEW = "correction_modal"
CONCERN_VIEW = "concern_modal"
REASSIGN_VIEW = "reassign_modal"

URGENCY_MARK = {"immediate": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
                "low": ":white_circle:", "none": ":heavy_minus_sign:"}
RATING_MARK = {"red": ":red_circle:", "amber": ":large_orange_circle:", "green": ":large_green_circle:"}

# Slack limits worth respecting rather than discovering as invalid_blocks.
MAX_TEXT = 2900  # section text is capped at 3000 characters
MAX_OPTION_TEXT = 75
MAX_BLOCKS_MESSAGE = 50
MAX_BLOCKS_VIEW = 100


def _clip(text: str, limit: int) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn_escape(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, MAX_TEXT)}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, MAX_TEXT)}]}


def _button(text: str, action_id: str, value: str, style: str | None = None, url: str | None = None) -> dict:
    b = {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True},
         "action_id": action_id, "value": value}
    if style:
        b["style"] = style
    if url:
        b["url"] = url
    return b


def _option(text: str, value: str) -> dict:
    return {"text": {"type": "plain_text", "text": _clip(text, MAX_OPTION_TEXT)}, "value": value}


def urgency_text(urgency: str | None) -> str:
    u = urgency or "none"
    return f"{URGENCY_MARK.get(u, '')} {label(u)}".strip()


def tags_line(values: Iterable[str]) -> str:
    vals = [label(v) for v in values]
    return ", ".join(vals) if vals else "—"


# --- the thread reply in a (possibly shared) channel: tags only -------------------------------

def triage_reply(*, concern_id: int, reference: str, homes: list[str], domains: list[str], urgency: str | None,
                 status: str = "open", corrected_by: str | None = None) -> tuple[str, list[dict]]:
    """(fallback text, blocks). Deliberately no message text, names or topics: the channel may be shared."""
    homes_text = ", ".join(_mrkdwn_escape(h) for h in homes) if homes else "_no home identified_"
    fields = [
        {"type": "mrkdwn", "text": f"*Reference*\n{reference}"},
        {"type": "mrkdwn", "text": f"*Urgency*\n{urgency_text(urgency)}"},
        {"type": "mrkdwn", "text": f"*Home(s)*\n{_clip(homes_text, 1900)}"},
        {"type": "mrkdwn", "text": f"*Domains*\n{tags_line(domains)}"},
    ]
    blocks: list[dict] = [
        _section(f":clipboard: Logged as concern *{reference}*"),
        {"type": "section", "fields": fields},
    ]
    if status == "withdrawn":
        blocks.append(_context(":wastebasket: The original post was deleted; this concern is withdrawn."))
    elif status == "not_concern":
        blocks.append(_context(f":no_entry_sign: Marked *not a concern*"
                               + (f" by <@{corrected_by}>" if corrected_by and corrected_by.startswith("U") else "")))
    elif corrected_by:
        who = f"<@{corrected_by}>" if corrected_by.startswith("U") else _mrkdwn_escape(corrected_by)
        blocks.append(_context(f":pencil2: Tags corrected by {who}"))
    if status not in ("withdrawn",):
        buttons = [_button("Correct tags", CORRECT_TAGS, str(concern_id), style="primary")]
        if status != "not_concern":
            buttons.append(_button("Not a concern", NOT_CONCERN, str(concern_id)))
        blocks.append({"type": "actions", "block_id": f"triage_{concern_id}", "elements": buttons})
    text = f"Concern {reference}: {label(urgency or 'none')} urgency"
    return text, blocks


# --- modals -----------------------------------------------------------------------------------

def _static_multi(block_id: str, title: str, choices: Iterable[str], selected: Iterable[str]) -> dict:
    options = [_option(label(c), c) for c in choices]
    chosen = [o for o in options if o["value"] in set(selected)]
    element = {"type": "multi_static_select", "action_id": block_id, "options": options,
               "placeholder": {"type": "plain_text", "text": "None"}}
    if chosen:
        element["initial_options"] = chosen
    return {"type": "input", "block_id": block_id, "optional": True,
            "label": {"type": "plain_text", "text": title}, "element": element}


def correction_modal(*, concern_id: int, reference: str, excerpt: str, homes: list[tuple[str, str]],
                     domains: list[str], topics: list[str], safeguarding: list[str], urgency: str | None,
                     metadata: dict | None = None) -> dict:
    """`homes` as (location_id, display name). Homes load from the register as the officer types
    (external select), so the register can outgrow static_select's 100 options."""
    home_el: dict = {"type": "multi_external_select", "action_id": HOMES_SELECT, "min_query_length": 2,
                     "placeholder": {"type": "plain_text", "text": "Type a home's name"}}
    if homes:
        home_el["initial_options"] = [_option(name, lid) for lid, name in homes]
    urgency_options = [_option(urgency_text(u), u) for u in URGENCIES]
    urgency_el: dict = {"type": "static_select", "action_id": "urgency", "options": urgency_options}
    initial = next((o for o in urgency_options if o["value"] == (urgency or "none")), None)
    if initial:
        urgency_el["initial_option"] = initial
    blocks = [
        _context(f"*{reference}* — {_mrkdwn_escape(_clip(excerpt, 600))}"),
        {"type": "input", "block_id": "homes", "optional": True,
         "label": {"type": "plain_text", "text": "Home(s)"}, "element": home_el},
        _static_multi("domains", "Domains", DOMAINS, domains),
        _static_multi("topics", "Topics", TOPICS, topics),
        _static_multi("safeguarding", "Safeguarding", SAFEGUARDING, safeguarding),
        {"type": "input", "block_id": "urgency", "label": {"type": "plain_text", "text": "Urgency"},
         "element": urgency_el},
    ]
    return {
        "type": "modal", "callback_id": CORRECTION_VIEW,
        "title": {"type": "plain_text", "text": "Correct tags"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps({"concern_id": concern_id, **(metadata or {})}),
        "blocks": blocks,
    }


def concern_modal(*, channel_id: str | None = None) -> dict:
    return {
        "type": "modal", "callback_id": CONCERN_VIEW,
        "title": {"type": "plain_text", "text": "Log a concern"},
        "submit": {"type": "plain_text", "text": "Log"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps({"channel_id": channel_id}),
        "blocks": [
            {"type": "input", "block_id": "text", "label": {"type": "plain_text", "text": "What was reported?"},
             "element": {"type": "plain_text_input", "action_id": "text", "multiline": True, "min_length": 10,
                         "max_length": 3000}},
            {"type": "input", "block_id": "home", "optional": True,
             "label": {"type": "plain_text", "text": "Home (if known)"},
             "element": {"type": "external_select", "action_id": HOME_SELECT, "min_query_length": 2,
                         "placeholder": {"type": "plain_text", "text": "Type a home's name"}}},
        ],
    }


def reassign_modal(*, alert_id: int, officers: list[tuple[str, str]], metadata: dict | None = None) -> dict:
    """`officers` as (officer_id, display). A council QA team is far below static_select's 100."""
    return {
        "type": "modal", "callback_id": REASSIGN_VIEW,
        "title": {"type": "plain_text", "text": "Reassign alert"},
        "submit": {"type": "plain_text", "text": "Reassign"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps({"alert_id": alert_id, **(metadata or {})}),
        "blocks": [
            {"type": "input", "block_id": "officer", "label": {"type": "plain_text", "text": "Hand over to"},
             "element": {"type": "static_select", "action_id": "officer",
                         "options": [_option(name, oid) for oid, name in officers[:100]]}},
        ],
    }


def home_options(locations: Iterable[tuple[str, str]]) -> list[dict]:
    """Options for an external select: (location_id, display name)."""
    return [_option(name, lid) for lid, name in list(locations)[:100]]


def message_blocks(text: str) -> list[dict]:
    return [_section(text)]


# --- alerts (a DM to one officer) --------------------------------------------------------------

KIND_TITLE = {"concern": "New concern", "escalation": "Escalated concern", "early_warning": "Early warning",
              "sister_flag": "Sister home flagged"}


def alert_message(*, alert_id: int, kind: str, urgency: str | None, status: str, home: str | None,
                  home_rating: str | None, home_score: float | None, concerns: list[dict], reasons: list[str],
                  open_url: str | None, acknowledged_by: str | None = None, acknowledged_at: str | None = None,
                  reassigned_to: str | None = None, escalation_level: int = 0) -> tuple[str, list[dict]]:
    """`concerns`: dicts with reference, urgency, domains, topics, safeguarding, evidence (list of str)."""
    title = KIND_TITLE.get(kind, "Alert")
    head = f"{URGENCY_MARK.get(urgency or '', ':bell:')} *{title}*"
    if home:
        head += f" — {_mrkdwn_escape(home)}"
    if escalation_level:
        head += f"  _(escalation level {escalation_level})_"
    blocks: list[dict] = [_section(head)]
    rating_bits = []
    if home_rating:
        rating_bits.append(f"Risk rating: {RATING_MARK.get(home_rating, '')} *{label(home_rating)}*"
                           + (f" (score {home_score:.0f})" if home_score is not None else ""))
    if urgency:
        rating_bits.append(f"Urgency: {urgency_text(urgency)}")
    if rating_bits:
        blocks.append(_context("   ".join(rating_bits)))
    for r in reasons[:5]:
        blocks.append(_section(f":warning: {_mrkdwn_escape(r)}"))
    for c in concerns[:8]:
        lines = [f"*{c.get('reference') or ''}* · {urgency_text(c.get('urgency'))}"]
        if c.get("domains"):
            lines.append(f"Domains: {tags_line(c['domains'])}")
        if c.get("topics"):
            lines.append(f"Topics: {tags_line(c['topics'])}")
        if c.get("safeguarding"):
            lines.append(f"Safeguarding: *{tags_line(c['safeguarding'])}*")
        for ev in (c.get("evidence") or [])[:3]:
            lines.append(f"> {_mrkdwn_escape(_clip(ev, 280))}")
        blocks.append(_section("\n".join(lines)))
    if len(concerns) > 8:
        blocks.append(_context(f"…and {len(concerns) - 8} more concerns"))
    if status == "acknowledged":
        who = f"<@{acknowledged_by}>" if acknowledged_by and acknowledged_by.startswith("U") \
            else _mrkdwn_escape(acknowledged_by or "someone")
        blocks.append(_context(f":white_check_mark: Acknowledged by {who}" + (f" at {acknowledged_at}" if acknowledged_at else "")))
    elif status == "cancelled":
        blocks.append(_context(":arrow_right: Reassigned to " + _mrkdwn_escape(reassigned_to)
                               if reassigned_to else ":heavy_multiplication_x: Cancelled"))
    buttons = []
    if status == "open":
        buttons += [_button("Acknowledge", ALERT_ACK, str(alert_id), style="primary"),
                    _button("Reassign", ALERT_REASSIGN, str(alert_id))]
    if open_url:
        buttons.append(_button("Open", ALERT_OPEN, str(alert_id), url=open_url))
    if buttons:
        blocks.append({"type": "actions", "block_id": f"alert_{alert_id}", "elements": buttons})
    text = f"{title}{' — ' + home if home else ''}: {label(urgency or 'none')} urgency"
    return text, blocks[:MAX_BLOCKS_MESSAGE]


# --- /risk card (ephemeral) ---------------------------------------------------------------------

def risk_card(*, name: str, location_id: str, town: str | None, rating: str | None, score: float | None,
              reason: str | None, cqc: list[tuple[str, str, str | None]], officer: str | None,
              recent: list[dict], flags: list[str] | None = None) -> tuple[str, list[dict]]:
    """`cqc`: (key question, rating, published); `recent`: dicts with reference, urgency, tags, received."""
    head = f"*{_mrkdwn_escape(name)}*" + (f", {_mrkdwn_escape(town)}" if town else "") + f"  `{location_id}`"
    blocks: list[dict] = [_section(head)]
    if rating:
        line = f"Risk rating: {RATING_MARK.get(rating, '')} *{label(rating)}*"
        if score is not None:
            line += f" (score {score:.0f})"
        if reason:
            line += f"\n_{_mrkdwn_escape(_clip(reason, 300))}_"
    else:
        line = "Risk rating: not yet assessed"
    blocks.append(_section(line))
    if cqc:
        rows = [f"{label(q)}: *{r}*" + (f" ({p})" if p else "") for q, r, p in cqc]
        blocks.append(_section("*CQC ratings*\n" + "\n".join(rows)))
    else:
        blocks.append(_section("*CQC ratings*\nNot yet rated"))
    blocks.append(_section(f"*Officer*\n{_mrkdwn_escape(officer) if officer else 'none assigned'}"))
    if recent:
        rows = [f"{c['reference']} · {urgency_text(c.get('urgency'))} · {tags_line(c.get('tags') or c.get('domains') or [])}"
                + (f" · {c['received']}" if c.get("received") else "") for c in recent[:10]]
        blocks.append(_section("*Recent concerns*\n" + "\n".join(rows)))
    else:
        blocks.append(_section("*Recent concerns*\nNone"))
    for f in (flags or [])[:3]:
        blocks.append(_context(f":triangular_flag_on_post: {_mrkdwn_escape(f)}"))
    return f"Risk card: {name}", blocks


def choose_home(query: str, matches: list[tuple[str, str]]) -> tuple[str, list[dict]]:
    if not matches:
        return (f"No home matches “{query}”.",
                [_section(f"No home in the register matches “{_mrkdwn_escape(query)}”. Try the CQC location ID.")])
    rows = "\n".join(f"• {_mrkdwn_escape(name)} — `/risk {lid}`" for lid, name in matches[:10])
    return "Several homes match.", [_section(f"Several homes match “{_mrkdwn_escape(query)}”:\n{rows}")]


# --- App Home -------------------------------------------------------------------------------------

def app_home(*, officer_name: str | None, concerns_by_urgency: dict[str, list[dict]],
             portfolio: list[dict], open_url_template: str | None = None) -> dict:
    """`concerns_by_urgency`: urgency → dicts (id, reference, home, domains, received);
    `portfolio`: dicts (name, rating, score, cqc_overall)."""
    if officer_name is None:
        return {"type": "home", "blocks": [
            _section("*Care Concern Triage*"),
            _section("Your Slack account is not linked to a QA officer in the register. "
                     "Ask your team manager to add your Slack member ID to the officers list."),
        ]}
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Concerns for {_clip(officer_name, 120)}"}},
    ]
    total = sum(len(v) for v in concerns_by_urgency.values())
    if not total:
        blocks.append(_section("No open concerns about your homes. :tada:"))
    for urgency in URGENCIES:
        rows = concerns_by_urgency.get(urgency) or []
        if not rows:
            continue
        lines = []
        for c in rows[:25]:
            ref = c["reference"]
            if open_url_template:
                ref = f"<{open_url_template.format(id=c['id'], reference=c['reference'])}|{ref}>"
            lines.append(f"{ref} · {_mrkdwn_escape(c.get('home') or 'no home')} · {tags_line(c.get('domains') or [])}"
                         + (f" · {c['received']}" if c.get("received") else ""))
        if len(rows) > 25:
            lines.append(f"…and {len(rows) - 25} more")
        blocks.append(_section(f"{urgency_text(urgency)} *({len(rows)})*\n" + "\n".join(lines)))
    blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": {"type": "plain_text", "text": "Your portfolio"}})
    if not portfolio:
        blocks.append(_section("No homes assigned to you."))
    chunk: list[str] = []
    for p in portfolio:
        rating = p.get("rating") or "green"
        chunk.append(f"{RATING_MARK.get(rating, '')} *{_mrkdwn_escape(p['name'])}* — {label(rating)}"
                     + (f" ({p['score']:.0f})" if p.get("score") is not None else "")
                     + f" · CQC {p.get('cqc_overall') or 'not rated'}")
        if len(chunk) == 15:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS_VIEW]}
