"""Clean an email or Slack post down to the concern's own words.

The mailbox holds forwarded headers, quoted replies, signatures and confidentiality
disclaimers; none of them may drive labels. For a forwarded email the forwarded original
*is* the concern, so its body is kept and only the header lines go. The forwarder's own
short note ("FYI see below") is kept too. Quoted replies ("> ...", "On ... wrote:") go, except a
">" block its writer is passing on: introduced with a colon, or by a short note that says so
("SMS received, forwarded to EDT", "for the file"). A forwarded text message is the concern.

Pure functions: the mail ingester (mail_ingest/) and the classifier share them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["CleanedText", "split_text", "clean_text"]


@dataclass
class CleanedText:
    body: str
    quoted: str = ""
    signature: str = ""
    disclaimer: str = ""
    forward_headers: str = ""
    # Header fields of the first forwarded/embedded message (lower-case keys: from, sent, subject...).
    original_headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body


_FWD_MARKER = re.compile(
    r"^\s*(?:-{2,}\s*(?:Forwarded message|Original Message|Forwarded by)[^\n]*?-*\s*"
    r"|Begin forwarded message:?\s*"
    r"|_{8,}\s*"
    r"|-{5,}\s*)$",
    re.I,
)
_HEADER_LINE = re.compile(
    r"^\s*\*?(From|Sent|Date|To|Cc|Bcc|Subject|Reply-To|Importance|Attachments)\*?\s*:\s*(.*)$", re.I
)
_WROTE = re.compile(r"^\s*(On\s.{3,200}?wrote:|.{0,120}<[^>]+@[^>]+>\s*wrote:|Le\s.{3,120}a écrit\s*:)\s*$", re.I)
_QUOTE = re.compile(r"^\s*>")
# A short note saying the ">" block below is being passed on, not replied to.
_PASS_ON = re.compile(
    r"\b(fwd|fw|forward(?:ing|ed)?|pass(?:ing|ed)? (?:this |it |that )?on|see (?:the \w+ )?below|below from|"
    r"pasting|pasted|for the file|for (?:your )?info(?:rmation)?|fyi|(?:sms|text|message|whatsapp) (?:received|from))\b",
    re.I)
_PASS_ON_MAX_WORDS = 60
_SIG_DELIM = re.compile(r"^\s*(--|—|__)\s*$")
_MOBILE = re.compile(r"^\s*(Sent from my \w+|Sent from Outlook for \w+|Get Outlook for \w+|Sent from Mail for Windows)",
                     re.I)
_SIGNOFF = re.compile(
    r"^\s*(kind(est)? regards|warm regards|best regards|regards|many thanks|thanks( again| very much)?|thank you|"
    r"best wishes|best|cheers|with thanks|yours (sincerely|faithfully)|all the best|speak soon|sincerely|"
    r"thx|ta|rgds|kr)\s*[,.!]?\s*$",
    re.I,
)
_DISCLAIMER = re.compile(
    r"(this (e-?mail|message|communication)(,| and| including)? (any |its )?(attachments?|files?)?.{0,40}"
    r"(confidential|intended (solely|only))"
    r"|(is|are) (strictly )?(private and )?confidential and (may be|intended)"
    r"|if you (are not|have received this) .{0,40}(intended recipient|in error)"
    r"|received this (e-?mail|message) in error"
    r"|views (or opinions )?expressed .{0,60}(do not|not necessarily)"
    r"|please consider the environment before printing"
    r"|(e-?mails?|communications) (may be|are) (monitored|recorded)"
    r"|freedom of information act"
    r"|scanned for (viruses|malware)"
    r"|registered (office|in england)"
    r"|^\s*(confidentiality|disclaimer)( notice)?\s*:)",
    re.I,
)


def _paragraphs(lines: list[str]) -> list[list[str]]:
    paras: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paras[-1].append(line)
        elif paras[-1]:
            paras.append([])
    return [p for p in paras if p]


def _split_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    """Trailing sign-off and the short name/role/phone lines under it."""
    for i, line in enumerate(lines):
        if _SIG_DELIM.match(line) or _MOBILE.match(line):
            return lines[:i], lines[i:]
    # The last sign-off line followed only by short lines (name, role, phone, team).
    for i in range(len(lines) - 1, -1, -1):
        if _SIGNOFF.match(lines[i]):
            tail = [t for t in lines[i + 1:] if t.strip()]
            if len(tail) <= 8 and all(len(t.strip()) <= 90 for t in tail):
                return lines[:i], lines[i:]
            break
    return lines, []


def _split_disclaimer(lines: list[str]) -> tuple[list[str], list[str]]:
    """Drop each paragraph's tail from the first sentence that reads as a disclaimer."""
    keep: list[str] = []
    dropped: list[str] = []
    for para in _paragraphs(lines):
        kept_lines: list[str] = []
        for k, line in enumerate(para):
            if not _DISCLAIMER.search(line):
                kept_lines.append(line)
                continue
            sentences = _SENTENCE.split(line)
            cut = next(n for n, sent in enumerate(sentences) if _DISCLAIMER.search(sent) or n == len(sentences) - 1)
            head = " ".join(sentences[:cut]).strip()
            if head:
                kept_lines.append(head)
            dropped.append(" ".join(sentences[cut:]) + ("\n" + "\n".join(para[k + 1:]) if para[k + 1:] else ""))
            break
        if kept_lines:
            keep.append("\n".join(kept_lines))
    return ("\n\n".join(keep).split("\n") if keep else []), dropped


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _looks_like_name_block(para: list[str]) -> bool:
    first = para[0].strip()
    return (len(para) <= 5 and len(first) <= 40 and len(first.split()) <= 5
            and all(len(t.strip()) <= 140 and not t.rstrip().endswith((".", "?", "!", ":")) for t in para)
            and not first.endswith(","))


def _clean_segment(lines: list[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """One message's own lines -> (body, quoted, signature, disclaimer)."""
    body: list[str] = []
    quoted: list[str] = []
    in_quote = False
    pasted = False  # a ">" block the writer introduced with a colon is content they are passing on
    for line in lines:
        if _WROTE.match(line):
            in_quote = True
            pasted = False
            quoted.append(line)
            continue
        if _QUOTE.match(line):
            if not in_quote and not pasted:
                prev = next((b for b in reversed(body) if b.strip()), "")
                intro = " ".join(body)
                history = bool(_WROTE.match(_QUOTE.sub("", line, count=1)))  # "> On ... wrote:"
                pasted = not quoted and not history and (prev.rstrip().endswith(":") or (
                    bool(_PASS_ON.search(intro)) and len(intro.split()) <= _PASS_ON_MAX_WORDS))
            if pasted:
                body.append(_QUOTE.sub("", line, count=1).lstrip())
                continue
            quoted.append(line)
            in_quote = True
            continue
        pasted = False
        if in_quote and not line.strip():
            quoted.append(line)
            continue
        in_quote = False
        body.append(line)
    body, disclaimer = _split_disclaimer(body)
    body, signature = _split_signature(body)
    if not signature:
        # A bare name/role/phone block closing a longer message, with no sign-off line.
        paras = _paragraphs(body)
        if len(paras) >= 2 and _looks_like_name_block(paras[-1]):
            signature = paras[-1]
            body = "\n\n".join("\n".join(p) for p in paras[:-1]).split("\n")
    return body, quoted, signature, disclaimer


def _header_block_at(lines: list[str], i: int) -> int:
    """Length of a From:/Sent:/To:/Subject: block starting at line i (0 if none)."""
    j = i
    seen = set()
    while j < len(lines):
        m = _HEADER_LINE.match(lines[j])
        if m:
            seen.add(m.group(1).lower())
            j += 1
            # Outlook wraps long To:/Cc: lists onto indented continuation lines.
            while j < len(lines) and lines[j].startswith((" ", "\t")) and lines[j].strip() and \
                    not _HEADER_LINE.match(lines[j]):
                j += 1
            continue
        break
    if "from" in seen and len(seen) >= 2:
        return j - i
    return 0


def split_text(text: str) -> CleanedText:
    """Split a message into the concern's own words and the parts that must not drive labels."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    lines = text.split("\n")
    segments: list[list[str]] = [[]]
    headers: list[str] = []
    original: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FWD_MARKER.match(line):
            # A marker line ("---------- Forwarded message ---------") may precede a header block.
            n = _header_block_at(lines, i + 1)
            if n or re.search(r"forward|original", line, re.I):
                headers.append(line)
                block = lines[i + 1:i + 1 + n]
                headers.extend(block)
                if not original:
                    original = _parse_headers(block)
                segments.append([])
                i += 1 + n
                continue
            if _SIG_DELIM.match(line):  # "--" alone: handled by the signature split
                segments[-1].append(line)
                i += 1
                continue
            i += 1
            continue
        n = _header_block_at(lines, i)
        if n:
            block = lines[i:i + n]
            headers.extend(block)
            if not original:
                original = _parse_headers(block)
            segments.append([])
            i += n
            continue
        segments[-1].append(line)
        i += 1

    body_parts: list[str] = []
    quoted: list[str] = []
    signature: list[str] = []
    disclaimer: list[str] = []
    for seg in segments:
        b, q, s, d = _clean_segment(seg)
        chunk = "\n".join(b).strip()
        if chunk:
            body_parts.append(chunk)
        quoted.extend(q)
        signature.extend(s)
        disclaimer.extend(d)
    body = "\n\n".join(body_parts)
    body = re.sub(r"\n{3,}", "\n\n", body).strip()
    return CleanedText(
        body=body,
        quoted="\n".join(quoted).strip(),
        signature="\n".join(signature).strip(),
        disclaimer="\n\n".join(disclaimer).strip(),
        forward_headers="\n".join(headers).strip(),
        original_headers=original,
    )


def _parse_headers(block: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block:
        m = _HEADER_LINE.match(line)
        if m:
            out.setdefault(m.group(1).lower(), m.group(2).strip())
    return out


def clean_text(text: str) -> str:
    """The concern's own words: forwarded headers, quoted replies, signatures and disclaimers removed."""
    return split_text(text).body
