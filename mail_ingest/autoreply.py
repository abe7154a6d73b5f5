"""Is this message an out-of-office, a bounce or bulk mail? (RFC 3834 and common practice.)

Such messages are recorded but never become concerns and are never answered, so the
product cannot enter a mail loop with an auto-responder.

`X-Auto-Response-Suppress` is different: it asks *us* not to answer, and Exchange, ticketing
and case-management systems put it on ordinary messages too (a safeguarding system's referral
notification carries it). Alone it only stops the acknowledgement; dropping such a message
would lose a concern. Exchange's own out-of-office replies also carry Auto-Submitted, and the
classifier recognises out-of-office text in any case.
"""

from __future__ import annotations

from email.message import Message

_ROBOT_LOCALPARTS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}


def _h(msg: Message, name: str) -> str | None:
    try:
        v = msg.get(name)
    except Exception:
        v = None
    return str(v).strip() if v is not None else None


def auto_reply_reason(msg: Message, sender_address: str | None) -> str | None:
    """The reason the message is automatic, or None for a message a person sent."""
    auto = _h(msg, "Auto-Submitted")
    if auto and auto.split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {auto.split(';')[0].strip().lower()}"
    prec = (_h(msg, "Precedence") or "").lower()
    if prec in ("bulk", "list", "junk", "auto_reply"):
        return f"Precedence: {prec}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if _h(msg, name):
            return name
    if sender_address and sender_address.split("@", 1)[0] in _ROBOT_LOCALPARTS:
        return "sender is a mail system (bounce)"
    if msg.get_content_type() == "multipart/report":
        return "delivery/disposition report"
    return_path = _h(msg, "Return-Path")
    if return_path is not None and return_path.replace(" ", "") == "<>":
        return "null return path (bounce)"
    return None


def no_reply_reason(msg: Message) -> str | None:
    """Why this message, though a person's or a system's concern, must not be answered."""
    suppress = _h(msg, "X-Auto-Response-Suppress")
    if suppress and suppress.lower() != "none":
        return f"X-Auto-Response-Suppress: {suppress}"
    return None
