"""Parsing is pure: EmailMessage objects and fixture bytes in, ParsedEmail out. No server needed."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from email.policy import SMTP

import pytest

from mail_fixtures.support import corpus, expected
from mail_ingest.extract import decode_bytes, html_to_text
from mail_ingest.parse import UnparseableMessage, normalise_message_id, parse_message


def _msg(body: str | None = "A concern about The Willows.", **headers) -> EmailMessage:
    m = EmailMessage()
    m["From"] = headers.pop("frm", "Sam Patel <sam.patel@wyvernshire.example.org>")
    m["To"] = "qa@wyvernshire.example.org"
    m["Subject"] = headers.pop("subject", "Concern")
    m["Message-ID"] = headers.pop("mid", "<abc@wyvernshire.example.org>")
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    if body is not None:
        m.set_content(body)
    return m


def _parse(m: EmailMessage):
    return parse_message(m.as_bytes(policy=SMTP))


# --- the corpus, parsed without a server ------------------------------------------------

@pytest.mark.parametrize("name,raw", corpus(include_large=False), ids=lambda v: v if isinstance(v, str) else "")
def test_corpus_message_parses_as_expected(name, raw):
    exp = expected()[name]
    if exp["outcome"] == "quarantined":
        with pytest.raises(UnparseableMessage) as err:
            parse_message(raw)
        assert exp.get("reason_contains", "").lower() in str(err.value).lower()
        return
    p = parse_message(raw)
    if exp["outcome"] == "auto_reply":
        assert p.auto_reply and p.clean_text == ""
        return
    assert p.auto_reply is None
    for w in exp.get("words", []):
        assert w in p.clean_text, w
    for w in exp.get("absent", []):
        assert w not in p.clean_text, w
    if "original_sender" in exp:
        assert p.forwarded and exp["original_sender"] in p.original_sender
        assert p.forwarded_by == p.sender


# --- body choice, HTML, charsets -------------------------------------------------------

def test_plain_preferred_over_html():
    m = _msg("Plain words: Abbey Lodge.")
    m.add_alternative("<p>HTML words only</p>", subtype="html")
    p = _parse(m)
    assert "Plain words" in p.text and "HTML words" not in p.text


def test_html_only_becomes_readable_text():
    m = _msg(None)
    m.set_content("<html><body><h1>Visit</h1><p>Line one<br>Line two</p><table><tr><td>A</td><td>B</td></tr>"
                  "</table><style>.x{}</style><script>var s=1</script>&pound;20 &amp; more</body></html>",
                  subtype="html")
    p = _parse(m)
    assert "Line one\nLine two" in p.text
    assert "£20 & more" in p.text
    assert "var s" not in p.text and ".x{}" not in p.text and "<p>" not in p.text


def test_html_blockquote_is_kept_apart_as_quoted():
    text = html_to_text("<p>New concern here.</p><blockquote><p>old message</p><blockquote>older</blockquote>"
                        "</blockquote>")
    assert "New concern here." in text
    assert "> old message" in text and "> older" in text


@pytest.mark.parametrize("charset,data,want", [
    ("iso-8859-1", "Caf\xe9 \xa35".encode("latin-1"), "Café £5"),
    ("windows-1252", "\u201cquoted\u201d \u2013 dash".encode("cp1252"), "“quoted” – dash"),
    ("iso-8859-1", "smart \u2019 quote".encode("cp1252"), "smart ’ quote"),  # mislabelled Windows text
    ("no-such-charset", "utf8 \u2014 text".encode(), "utf8 — text"),
    ("no-such-charset", "latin \xe9".encode("latin-1"), "latin é"),
    (None, "plain ascii".encode(), "plain ascii"),
    ("utf-8", b"broken \xff bytes", "broken ÿ bytes"),
])
def test_decode_any_charset(charset, data, want):
    assert decode_bytes(data, charset) == want


def test_unknown_charset_in_a_real_message_falls_back():
    raw = (b"From: a@wyvernshire.example.org\r\nSubject: x\r\nMessage-ID: <cs@x>\r\n"
           b"Content-Type: text/plain; charset=klingon-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           b"Meadow View \xe2\x80\x93 falls\r\n")
    assert "Meadow View – falls" in parse_message(raw).text


def test_broken_base64_does_not_raise():
    raw = (b"From: a@wyvernshire.example.org\r\nSubject: x\r\nMessage-ID: <b64@x>\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.b64encode(b"Brookvale House concern") + b"!!!\r\n")
    p = parse_message(raw)
    assert "Brookvale House concern" in p.text


# --- forwarded messages ------------------------------------------------------------------

def test_outlook_forward_yields_original_author_date_subject():
    m = _msg("FYI\n\n________________________________\nFrom: Jane Roe <jane@family.example.com>\n"
             "Sent: 03 November 2026 10:15\nTo: Officer <o@wyvernshire.example.org>\n"
             "Subject: Mum at Hills View\n\nMum has had no bath for ten days at Hills View.\n",
             subject="FW: Mum at Hills View")
    p = _parse(m)
    assert p.forwarded and p.original_sender == "Jane Roe <jane@family.example.com>"
    assert p.original_sent_at == "03 November 2026 10:15" and p.original_subject == "Mum at Hills View"
    assert p.forwarded_by == "Sam Patel <sam.patel@wyvernshire.example.org>"
    assert "no bath for ten days" in p.clean_text and "Sent:" not in p.clean_text
    assert "Sent: 03 November" in p.text  # the raw message is kept whole


def test_gmail_forward_yields_original_author():
    m = _msg("---------- Forwarded message ---------\nFrom: Tom <tom@family.example.com>\n"
             "Date: Sat, 14 Nov 2026 at 19:05\nSubject: Dad\nTo: <x@wyvernshire.example.org>\n\n"
             "Dad fell at Sunrise Court.\n")
    p = _parse(m)
    assert p.original_sender == "Tom <tom@family.example.com>" and p.original_subject == "Dad"
    assert p.original_sent_at == "Sat, 14 Nov 2026 at 19:05"
    assert p.clean_text.strip() == "Dad fell at Sunrise Court."


def test_attached_rfc822_is_the_concern():
    inner = _msg("Inner concern: Wye Valley Court has no hot water.", frm="GP <gp@surgery.example.net>",
                 subject="Hot water", mid="<inner@x>", Date="Wed, 11 Nov 2026 08:30:00 +0000")
    outer = _msg("See attached.")
    outer.add_attachment(inner)
    p = _parse(outer)
    assert p.original_sender == "GP <gp@surgery.example.net>" and p.original_subject == "Hot water"
    assert p.original_sent_at == "Wed, 11 Nov 2026 08:30:00 +0000"
    assert "no hot water" in p.clean_text and "See attached." in p.clean_text
    assert any(a["content_type"] == "message/rfc822" for a in p.attachments)


def test_quoted_reply_signature_and_disclaimer_are_separated():
    body = ("New: The Grange kitchen failed its food hygiene inspection.\n\nKind regards\n\nSam Patel\n"
            "Review Officer\n\nThis email and any attachments are confidential and intended solely for the "
            "addressee. If you have received this email in error please delete it.\n\n"
            "On Mon, 9 Nov 2026 at 10:02, Helen <h@wyvernshire.example.org> wrote:\n> old quoted stuff\n")
    p = _parse(_msg(body))
    assert p.clean_text.strip() == "New: The Grange kitchen failed its food hygiene inspection."
    assert "old quoted stuff" in p.quoted
    assert "confidential" in p.disclaimer
    assert "old quoted stuff" in p.text  # kept in the raw text


# --- attachments -------------------------------------------------------------------------

def test_attachments_listed_with_name_type_size_and_text():
    from mail_fixtures.build_corpus import _docx, _pdf

    m = _msg("Two documents attached.")
    pdf = _pdf(["PDF text: Pershore Manor weight charts missing."])
    docx = _docx(["Word text: Kingfisher Lodge night staffing."])
    m.add_attachment(pdf, maintype="application", subtype="pdf", filename="a.pdf")
    m.add_attachment(docx, maintype="application",
                     subtype="vnd.openxmlformats-officedocument.wordprocessingml.document", filename="b.docx")
    m.add_attachment(b"\x00\x01binary", maintype="application", subtype="octet-stream", filename="c.bin")
    p = _parse(m)
    by = {a["filename"]: a for a in p.attachments}
    assert by["a.pdf"]["content_type"] == "application/pdf" and by["a.pdf"]["size"] == len(pdf)
    assert by["b.docx"]["size"] == len(docx) and by["c.bin"]["size"] == 8
    assert by["a.pdf"]["text_chars"] > 0 and by["b.docx"]["text_chars"] > 0 and by["c.bin"]["text_chars"] == 0
    assert "Pershore Manor weight charts missing" in p.clean_text
    assert "Kingfisher Lodge night staffing" in p.clean_text


def test_damaged_pdf_is_listed_not_fatal():
    m = _msg("Report attached.")
    m.add_attachment(b"%PDF-1.4 this is not really a pdf", maintype="application", subtype="pdf",
                     filename="bad.pdf")
    p = _parse(m)
    assert p.attachments[0]["filename"] == "bad.pdf" and p.attachments[0]["text_chars"] == 0
    assert p.clean_text.startswith("Report attached.")


# --- auto-replies, bounces, bulk -----------------------------------------------------------

@pytest.mark.parametrize("headers,frm,reason", [
    ({"Auto_Submitted": "auto-replied"}, None, "Auto-Submitted: auto-replied"),
    ({"Auto_Submitted": "auto-generated; owner-email=x@y"}, None, "Auto-Submitted: auto-generated"),
    ({"Precedence": "bulk"}, None, "Precedence: bulk"),
    ({"Precedence": "junk"}, None, "Precedence: junk"),
    ({"Precedence": "list"}, None, "Precedence: list"),
    ({"X_Autoreply": "yes"}, None, "X-Autoreply"),
    ({}, "MAILER-DAEMON@mail.example.org", "mail system"),
    ({}, "Postmaster <postmaster@example.org>", "mail system"),
    ({"Return_Path": "<>"}, None, "null return path"),
])
def test_auto_replies_detected(headers, frm, reason):
    kw = dict(headers)
    if frm:
        kw["frm"] = frm
    p = _parse(_msg("I am out of the office.", **kw))
    assert p.auto_reply and reason in p.auto_reply


def test_auto_response_suppress_alone_is_processed_but_never_answered():
    # Case-management systems mark their referral notifications so: dropping them loses concerns.
    p = _parse(_msg("Safeguarding referral: bruising to a resident's arms at Larch House.",
                    X_Auto_Response_Suppress="All"))
    assert p.auto_reply is None
    assert p.no_reply == "X-Auto-Response-Suppress: All"
    assert "bruising" in p.clean_text
    assert _parse(_msg("Concern.", X_Auto_Response_Suppress="None")).no_reply is None


def test_auto_submitted_no_and_precedence_first_class_are_people():
    assert _parse(_msg("Concern.", Auto_Submitted="no")).auto_reply is None
    assert _parse(_msg("Concern.", Precedence="first-class")).auto_reply is None


def test_multipart_report_is_a_bounce():
    m = _msg("Delivery failed.")
    m.add_attachment("Action: failed\n", subtype="delivery-status")
    m.replace_header("Content-Type", m["Content-Type"].replace("multipart/mixed", "multipart/report"))
    assert "report" in _parse(m).auto_reply


# --- keys and unparseable --------------------------------------------------------------------

def test_message_id_key_and_sha_fallback():
    assert normalise_message_id(" <Abc@Example.org> ") == "Abc@Example.org"
    assert normalise_message_id("<a@b> (comment)") == "a@b"
    assert normalise_message_id(None) is None and normalise_message_id("<>") is None
    assert normalise_message_id("<" + "x" * 600 + "@y>").startswith("mid-sha256:")
    m = _msg("No id here.")
    del m["Message-ID"]
    raw = m.as_bytes(policy=SMTP)
    p = parse_message(raw)
    import hashlib
    assert p.message_id is None and p.key == "sha256:" + hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize("raw,reason", [
    (b"", "empty"),
    (b"From: a@b\r\nSubject: x\r\n\r\n   \r\n", "no readable text"),
    (b"From: a@b\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\nno boundary ever\r\n", "broken MIME"),
])
def test_unparseable_messages_give_a_reason(raw, reason):
    with pytest.raises(UnparseableMessage) as err:
        parse_message(raw)
    assert reason in str(err.value)
