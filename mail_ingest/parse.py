"""One raw email → what the product needs from it. Pure: bytes in, a ParsedEmail out, no I/O.

Plain text is preferred over HTML; HTML becomes readable text; any charset decodes (a bogus
one falls back to UTF-8 / Windows-1252). A forwarded message, inline (Outlook From:/Sent:
blocks, Gmail "Forwarded message") or attached (message/rfc822), yields its original author,
date and subject as well as the forwarder. Quoted replies, signatures and disclaimers are
separated by `triage.text.split_text`, the cleaner the classifier shares.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from .autoreply import auto_reply_reason, no_reply_reason
from .extract import attachment_text, html_to_text, part_text

MAX_KEY = 400

# MIME defects that mean the structure was not understood: the "body" would be raw MIME.
_FATAL_DEFECTS = {"StartBoundaryNotFoundDefect", "MultipartInvariantViolationDefect", "NoBoundaryInMultipartDefect"}


class UnparseableMessage(ValueError):
    """The message cannot be turned into a concern; `str(err)` is the reason shown to the duty desk."""


@dataclass
class ParsedEmail:
    key: str  # Message-ID, or sha256 of the raw bytes when there is none
    message_id: str | None
    raw_sha256: str
    size: int
    sender: str | None  # "Name <addr>" as sent
    sender_address: str | None
    subject: str | None
    date: str | None
    in_reply_to: str | None
    text: str  # the whole readable message, quoted parts and all (attachment text appended)
    clean_text: str  # the concern's own words, for the classifier
    original_sender: str | None = None
    original_sent_at: str | None = None
    original_subject: str | None = None
    forwarded: bool = False
    attachments: list[dict] = field(default_factory=list)
    auto_reply: str | None = None  # why it is an auto-reply / bounce / bulk, else None
    no_reply: str | None = None  # why it must not be acknowledged although it is processed
    defects: list[str] = field(default_factory=list)
    quoted: str = ""
    signature: str = ""
    disclaimer: str = ""

    @property
    def forwarded_by(self) -> str | None:
        return self.sender if self.forwarded else None


def raw_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def normalise_message_id(value: str | None) -> str | None:
    if not value:
        return None
    value = re.sub(r"\s+", "", str(value))
    m = re.search(r"<([^<>]+)>", value)
    mid = (m.group(1) if m else value.strip("<>")).strip()
    if not mid:
        return None
    if len(mid) > MAX_KEY:
        return "mid-sha256:" + hashlib.sha256(mid.encode()).hexdigest()
    return mid


def _header(msg: Message, name: str) -> str | None:
    """A header as text, never raising on a malformed value (the raw value is the fallback)."""
    try:
        value = msg.get(name)
    except Exception:
        value = None
        for k, v in msg.raw_items() if hasattr(msg, "raw_items") else msg.items():
            if k.lower() == name.lower():
                value = v
                break
    if value is None:
        return None
    return re.sub(r"\s+", " ", str(value)).strip() or None


def _address(value: str | None) -> str | None:
    if not value:
        return None
    try:
        addrs = getaddresses([value])
    except Exception:
        addrs = [parseaddr(value)]
    for _, addr in addrs:
        if addr and "@" in addr:
            return addr.lower()
    return None


@dataclass
class _Parts:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[dict] = field(default_factory=list)
    attachment_texts: list[tuple[str, str]] = field(default_factory=list)
    embedded: list[EmailMessage] = field(default_factory=list)


def _is_attachment(part: Message) -> bool:
    disp = (part.get_content_disposition() or "").lower()
    if disp == "attachment":
        return True
    ctype = part.get_content_type()
    if ctype in ("text/plain", "text/html") and disp != "attachment":
        return False
    return bool(part.get_filename()) or not ctype.startswith("text/")


def _walk(part: Message, acc: _Parts) -> None:
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, Message):
            acc.embedded.append(inner)
            return
    if part.is_multipart():
        subs = [p for p in part.get_payload() if isinstance(p, Message)]
        if ctype == "multipart/alternative":
            chosen = (next((s for s in subs if s.get_content_type() == "text/plain" and part_text(s).strip()), None)
                      or next((s for s in subs if s.get_content_type() == "text/html"), None)
                      or (subs[-1] if subs else None))
            if chosen is not None:
                _walk(chosen, acc)
            return
        for sub in subs:
            _walk(sub, acc)
        return
    if _is_attachment(part):
        _add_attachment(part, acc)
        return
    if ctype == "text/html":
        acc.html.append(html_to_text(part_text(part)))
    else:
        acc.plain.append(part_text(part))


def _add_attachment(part: Message, acc: _Parts) -> None:
    try:
        data = part.get_payload(decode=True) or b""
    except Exception:
        data = b""
    name = None
    try:
        name = part.get_filename()
    except Exception:
        pass
    ctype = part.get_content_type()
    text = attachment_text(data, ctype, name, part.get_content_charset())
    acc.attachments.append({"filename": name or "(unnamed)", "content_type": ctype, "size": len(data),
                            "text_chars": len(text) if text else 0})
    if text:
        acc.attachment_texts.append((name or "(unnamed)", text))


def _body(acc: _Parts) -> str:
    plain = "\n\n".join(t.strip() for t in acc.plain if t and t.strip())
    if plain:
        return plain
    return "\n\n".join(t.strip() for t in acc.html if t and t.strip())


def _defects(msg: Message) -> list[str]:
    out: list[str] = []
    for part in msg.walk():
        out.extend(d.__class__.__name__ for d in getattr(part, "defects", []) or [])
    return out


def parse_message(raw: bytes) -> ParsedEmail:
    """Parse one raw message; raises UnparseableMessage with a reason for the quarantine."""
    digest = raw_digest(raw)
    if not raw or not raw.strip():
        raise UnparseableMessage("empty message")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as err:  # the parser is lenient; this is rare
        raise UnparseableMessage(f"unparseable MIME: {err.__class__.__name__}") from None

    message_id = normalise_message_id(_header(msg, "Message-ID"))
    sender = _header(msg, "From")
    sender_address = _address(sender)
    subject = _header(msg, "Subject")
    auto = auto_reply_reason(msg, sender_address)
    defects = _defects(msg)

    base = dict(key=message_id or f"sha256:{digest}", message_id=message_id, raw_sha256=digest, size=len(raw),
                sender=sender, sender_address=sender_address, subject=subject, date=_header(msg, "Date"),
                in_reply_to=normalise_message_id(_header(msg, "In-Reply-To")), auto_reply=auto,
                no_reply=no_reply_reason(msg), defects=defects)
    if auto:
        # Recorded, never classified: the body of a bounce or out-of-office is not intelligence.
        return ParsedEmail(text="", clean_text="", **base)

    fatal = sorted(set(defects) & _FATAL_DEFECTS)
    if fatal:
        raise UnparseableMessage(f"broken MIME structure ({', '.join(fatal)})")

    acc = _Parts()
    try:
        _walk(msg, acc)
    except Exception as err:
        raise UnparseableMessage(f"cannot read MIME parts: {err.__class__.__name__}") from None

    text = _body(acc)
    original_sender = original_sent_at = original_subject = None
    forwarded = False
    for inner in acc.embedded:
        # An attached original (message/rfc822) is the concern; the outer text is the forwarder's note.
        inner_acc = _Parts()
        _walk(inner, inner_acc)
        acc.attachments.append({"filename": (_header(inner, "Subject") or "(forwarded message)") + ".eml",
                                "content_type": "message/rfc822", "size": len(inner.as_bytes()),
                                "text_chars": len(_body(inner_acc))})
        acc.attachments.extend(inner_acc.attachments)
        acc.attachment_texts.extend(inner_acc.attachment_texts)
        if not forwarded:
            forwarded = True
            original_sender = _header(inner, "From")
            original_sent_at = _header(inner, "Date")
            original_subject = _header(inner, "Subject")
        block = ["---------- Forwarded message ---------"]
        for label, name in (("From", "From"), ("Date", "Date"), ("Subject", "Subject"), ("To", "To")):
            value = _header(inner, name)
            if value:
                block.append(f"{label}: {value}")
        text = (text + "\n\n" if text else "") + "\n".join(block) + "\n\n" + _body(inner_acc)

    from triage.text import split_text

    split = split_text(text)
    if not forwarded and split.original_headers:
        forwarded = True
        oh = split.original_headers
        original_sender = oh.get("from")
        original_sent_at = oh.get("sent") or oh.get("date")
        original_subject = oh.get("subject")

    clean = split.body
    if acc.attachment_texts:
        extra = "\n\n".join(f"[Attachment: {name}]\n{t}" for name, t in acc.attachment_texts)
        text = (text + "\n\n" if text else "") + extra
        clean = (clean + "\n\n" if clean else "") + extra

    if not clean.strip():
        names = ", ".join(a["filename"] for a in acc.attachments)
        reason = "no readable text" + (f" (attachments: {names})" if names else " (empty body)")
        raise UnparseableMessage(reason)

    return ParsedEmail(text=text, clean_text=clean, original_sender=original_sender,
                       original_sent_at=original_sent_at, original_subject=original_subject, forwarded=forwarded,
                       attachments=acc.attachments, quoted=split.quoted, signature=split.signature,
                       disclaimer=split.disclaimer, **base)
