"""Text out of message parts: any charset, HTML, and PDF/Word/text attachments. Pure functions."""

from __future__ import annotations

import codecs
import io
import logging
import re

log = logging.getLogger(__name__)

# Attachments bigger than this are listed but not read: a 15 MB scan is not text.
MAX_EXTRACT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENT_TEXT = 50_000

# Mail clients label Windows-1252 as ISO-8859-1 all the time; cp1252 is a superset for printable text.
_ALIASES = {"iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252",
            "ascii": "cp1252", "unknown-8bit": "cp1252", "x-unknown": "cp1252", "ks_c_5601-1987": "cp949"}


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, falling back sensibly when it is wrong or unknown."""
    tried: list[str] = []
    cs = (charset or "").strip().strip('"').lower()
    cs = _ALIASES.get(cs, cs)
    if cs:
        try:
            codecs.lookup(cs)
            tried.append(cs)
        except LookupError:
            pass
    for enc in tried + ["utf-8", "cp1252"]:
        try:
            return data.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1", errors="replace")


def part_text(part) -> str:
    """The decoded text of a text/* part (never raises on a bad charset or transfer encoding)."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a broken base64 body: take what is there
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    return decode_bytes(payload, part.get_content_charset())


_BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr",
          "blockquote", "pre", "section", "article", "header", "footer"}


def html_to_text(html: str) -> str:
    """Readable text from HTML mail: blocks become lines, quoted blocks get '> ' so they stay quotes."""
    try:
        return _html_to_text(html)
    except Exception:  # odd markup must not cost the message: plain tag-stripping instead
        from bs4 import BeautifulSoup

        return re.sub(r"\n{3,}", "\n\n", BeautifulSoup(html, "html.parser").get_text("\n")).strip()


def _html_to_text(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title", "meta"]):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for li in soup.find_all("li"):
        li.insert(0, "- ")
    # Gmail/Outlook quoted history: mark as quoted text so the cleaner can separate it.
    quoted = soup.find_all(class_=re.compile(r"^gmail_quote$")) + soup.find_all("blockquote")
    for bq in quoted:
        # Only the outermost quote: inner ones are inside its text already (or already replaced).
        if bq.parent is None or any(p in quoted for p in bq.parents):
            continue
        inner = _blocks_text(bq)
        bq.replace_with("\n" + "\n".join("> " + ln if ln.strip() else ">" for ln in inner.split("\n")) + "\n")
    text = _blocks_text(soup)
    return text


def _blocks_text(node) -> str:
    for tag in node.find_all(_BLOCK):
        tag.insert_before("\n")
        tag.insert_after("\n")
    text = node.get_text("")
    text = text.replace("\u00a0", " ")
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in text.split("\n")]
    out = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def attachment_text(data: bytes, content_type: str, filename: str | None, charset: str | None = None) -> str | None:
    """Text of a text/PDF/Word attachment, or None when it is not one (or cannot be read)."""
    if len(data) > MAX_EXTRACT_BYTES:
        return None
    name = (filename or "").lower()
    ctype = (content_type or "").lower()
    try:
        if ctype == "application/pdf" or name.endswith(".pdf"):
            return _cap(_pdf_text(data))
        if ctype == "application/vnd.openxmlformats-officedocument.wordprocessingml.document" or name.endswith(
                ".docx"):
            return _cap(_docx_text(data))
        if ctype.startswith("text/html") or name.endswith((".htm", ".html")):
            return _cap(html_to_text(decode_bytes(data, charset)))
        if ctype.startswith("text/") or name.endswith((".txt", ".csv", ".md")):
            return _cap(decode_bytes(data, charset))
    except Exception as err:  # a damaged file is listed, its text skipped
        log.warning("attachment text not extracted: %s", err.__class__.__name__)
        return None
    return None


def _cap(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text[:MAX_ATTACHMENT_TEXT] if text else None


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return "\n".join((page.extract_text() or "") for page in reader.pages)


def _docx_text(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(parts)
