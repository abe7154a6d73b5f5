"""Regenerate the mail fixture corpus (*.eml) and its expectations (expected.json).

The .eml files are committed; this script documents how each was made and rebuilds them
(`python tests/mail_fixtures/build_corpus.py`). The 15 MB attachment message is NOT
committed: `large_message()` builds it at test time (`build_corpus.py --large FILE` writes it).

expected.json: file -> {"outcome": stored|duplicate|auto_reply|quarantined, ...facts the tests check}.
"""

from __future__ import annotations

import base64
import io
import json
import quopri
import sys
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

HERE = Path(__file__).resolve().parent
COUNCIL = "wyvernshire.example.org"


def _hdr(frm: str, subject: str, mid: str | None, date: str = "Mon, 16 Nov 2026 09:14:03 +0000",
         to: str = f"QA Intelligence <qa-intelligence@{COUNCIL}>", extra: str = "") -> str:
    h = [f"From: {frm}", f"To: {to}", f"Subject: {subject}", f"Date: {date}"]
    if mid:
        h.append(f"Message-ID: <{mid}>")
    h.append("MIME-Version: 1.0")
    out = "\n".join(h) + "\n"
    if extra:
        out += extra.strip("\n") + "\n"
    return out


def _plain(frm, subject, mid, body, charset="utf-8", cte="8bit", **kw) -> bytes:
    head = _hdr(frm, subject, mid, **kw) + f'Content-Type: text/plain; charset="{charset}"\n' \
        f"Content-Transfer-Encoding: {cte}\n\n"
    return head.encode("ascii") + body


def _pdf(text_lines: list[str]) -> bytes:
    """A minimal one-page PDF with real text (Helvetica), offsets computed properly."""
    content = "BT /F1 11 Tf 50 780 Td 14 TL\n" + "".join(
        "(" + ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") Tj T*\n" for ln in text_lines
    ) + "ET"
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{o}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _docx(paragraphs: list[str]) -> bytes:
    import docx

    d = docx.Document()
    for p in paragraphs:
        d.add_paragraph(p)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _em(frm, subject, mid, date="Tue, 17 Nov 2026 11:02:45 +0000", to=f"qa-intelligence@{COUNCIL}") -> EmailMessage:
    m = EmailMessage()
    m["From"] = frm
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = date
    if mid:
        m["Message-ID"] = f"<{mid}>"
    return m


DISCLAIMER = (
    "This email and any attachments are confidential and intended solely for the addressee. If you have "
    "received this email in error please notify the sender and delete it. Wyvernshire County Council "
    "emails may be monitored and recorded. Please consider the environment before printing this email."
)

# The concern forwarded twice, by two different people, in two mail clients' formats.
TWICE = (
    "Hi,\n\nI'm writing about my uncle who lives at Kingfisher Lodge. On three visits this month his room "
    "smelled strongly of urine and his bedding had not been changed. Yesterday he told me he had waited over an "
    "hour for help to the toilet at night and nobody came. The night staff seem to be agency and did not know "
    "his name. I am worried about his skin as he has had a pressure sore before.\n\nRuth Millington"
)


def build() -> dict[str, dict]:
    files: dict[str, bytes] = {}
    exp: dict[str, dict] = {}

    def add(name, raw, outcome, **facts):
        files[name] = raw
        exp[name] = {"outcome": outcome, **facts}

    add("01_plain_direct.eml", _plain(
        f"Sam Patel <sam.patel@{COUNCIL}>", "Concern - Brookvale House medication", "01.plain@wyvernshire.example.org",
        ("Hello QA team,\n\nDuring my review visit to Brookvale House on Friday a resident's daughter told me her "
         "mother had missed her evening Parkinson's medication twice last week because the nurse on shift was "
         "covering two floors. The MAR chart had gaps on 9th and 11th November. The home manager was not aware.\n\n"
         "Kind regards,\nSam Patel\nReview Officer, Adult Social Care\n").encode()),
        "stored", words=["Parkinson", "MAR chart"], absent=["Review Officer"])

    outlook_fwd = (
        "FYI - see below from a district nurse. Can someone pick this up?\n\n"
        "Jo\n\n"
        "________________________________\n"
        "From: Karen Doyle <karen.doyle@nhs-wyvern.example.net>\n"
        "Sent: 12 November 2026 16:40\n"
        "To: Jo Adebayo <jo.adebayo@wyvernshire.example.org>\n"
        "Subject: Sunrise Court - pressure care\n\n"
        "Jo,\n\nI visited a patient at Sunrise Court today for a dressing change. He has developed a grade 3 "
        "pressure ulcer on his sacrum which was not reported to us. Repositioning charts were blank for two days "
        "and the air mattress was set for the wrong weight. I have raised it with the nurse in charge.\n\n"
        "Karen Doyle\nDistrict Nursing Team\n\n" + DISCLAIMER + "\n"
    )
    add("02_outlook_forward.eml", _plain(
        f"Jo Adebayo <jo.adebayo@{COUNCIL}>", "FW: Sunrise Court - pressure care", "02.outlook@wyvernshire.example.org",
        outlook_fwd.encode(), extra="X-MS-Has-Attach:\nThread-Topic: Sunrise Court - pressure care\n"),
        "stored", original_sender="Karen Doyle", original_subject="Sunrise Court - pressure care",
        words=["pressure ulcer", "air mattress"], absent=["environment before printing"])

    gmail_plain = (
        "Passing this on, came to my personal email.\n\n"
        "---------- Forwarded message ---------\n"
        "From: Tom Hughes <tom.hughes.family@gmail.example.com>\n"
        "Date: Sat, 14 Nov 2026 at 19:05\n"
        "Subject: Dad at The Willows\n"
        "To: <priya.shah@wyvernshire.example.org>\n\n"
        "Priya,\n\nDad was found on the floor of his room at The Willows on Thursday morning and staff don't know "
        "how long he had been there. Nobody phoned us until the afternoon. His sensor mat was unplugged. "
        "I want to know if this was reported.\n\nTom\n"
    )
    gmail_html = "<div dir=\"ltr\">" + gmail_plain.replace("\n", "<br>") + "</div>"
    m = _em(f"Priya Shah <priya.shah@{COUNCIL}>", "Fwd: Dad at The Willows", "03.gmail@mail.gmail.example.com")
    m.set_content(gmail_plain)
    m.add_alternative(gmail_html, subtype="html")
    add("03_gmail_forward.eml", m.as_bytes(policy=SMTP), "stored", original_sender="Tom Hughes",
        original_subject="Dad at The Willows", words=["sensor mat"])

    html = ("<html><head><style>p{color:red}</style></head><body><p>Dear QA,</p><p>Concern raised by a "
            "<b>care worker</b> at <i>Abbey Lodge</i>:</p><ul><li>staff rota shows only two carers on nights "
            "for 38 residents</li><li>fire doors propped open with wedges</li></ul><p>She asked to stay "
            "anonymous.<br>Thanks</p><script>alert(1)</script></body></html>")
    m = _em(f"Lee Grant <lee.grant@{COUNCIL}>", "Whistleblowing - Abbey Lodge staffing", "04.html@wyvernshire.example.org")
    m.set_content(html, subtype="html")
    add("04_html_only.eml", m.as_bytes(policy=SMTP), "stored", words=["fire doors propped open", "two carers"],
        absent=["alert(1)", "color:red", "<b>"])

    b64_body = ("A relative phoned the duty line: her mother at Pershore Manor has lost 6 kg since August and "
                "is not being weighed monthly as her care plan says. Food charts are incomplete.\n")
    raw = _hdr(f"Duty Desk <duty@{COUNCIL}>", "Weight loss - Pershore Manor", "05.b64@wyvernshire.example.org")
    raw += 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n'
    raw += base64.encodebytes(b64_body.encode()).decode()
    add("05_base64_plain.eml", raw.encode(), "stored", words=["lost 6 kg", "Food charts"])

    qp_body = ("The manager at Wyvern Lodge said she\u2019s \u201cnot able to share\u201d the incident log with "
               "families. A resident\u2019s son reports bruising on both forearms that the home says came from "
               "\u201cbumping into furniture\u201d. This is the second unexplained bruising report in a month and "
               "needs a safeguarding referral decision.\n")
    raw = _hdr(f"Ana Costa <ana.costa@{COUNCIL}>", "Unexplained bruising - Wyvern Lodge", "06.qp@wyvernshire.example.org")
    raw += 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n\n'
    raw += quopri.encodestring(qp_body.encode()).decode()
    add("06_qp_plain.eml", raw.encode(), "stored", words=["she\u2019s \u201cnot able to share\u201d",
                                                          "unexplained bruising"])

    add("07_iso8859_1.eml", _plain(
        "=?iso-8859-1?Q?Ren=E9e_Fran=E7ois?= <renee.francois@healthwatch-wyvernshire.example.org>",
        "Feedback - Mulberry Court fees", "07.latin1@healthwatch-wyvernshire.example.org",
        ("Healthwatch feedback: a resident's family at Mulberry Court were charged \xa3450 extra for \"enhanced "
         "care\" with no reassessment. Caf\xe9 and activities room closed since September. Family say the "
         "residents are bored and withdrawn.\n").encode("latin-1"), charset="iso-8859-1"),
        "stored", words=["\u00a3450", "Caf\u00e9"], sender_contains="Ren\u00e9e")

    add("08_windows1252.eml", _plain(
        f"Mark Ellis <mark.ellis@{COUNCIL}>", "Hills View \u2013 call bells".encode("ascii", "replace").decode(),
        "08.cp1252@wyvernshire.example.org",
        ("At Hills View the call bells in the east corridor weren\u2019t working for three days \u2013 residents "
         "were given hand bells. The home didn\u2019t notify us. \u201cIt\u2019s been fixed\u201d, says the "
         "manager, but a family member says it failed again on Sunday.\n").encode("cp1252"),
        charset="windows-1252"), "stored", words=["weren\u2019t working", "\u2013 residents"])

    add("09_bogus_charset.eml", _plain(
        f"Nadia Rahman <nadia.rahman@{COUNCIL}>", "Saint Anne's Court - visiting restrictions",
        "09.bogus@wyvernshire.example.org",
        ("Families at Saint Anne\u2019s Court say visiting has been restricted to 30 minutes twice a week with "
         "no infection outbreak declared. One resident with dementia has become distressed \u2014 her husband "
         "can\u2019t see her.\n").encode("utf-8"), charset="x-bogus-charset-42"),
        "stored", words=["Saint Anne\u2019s Court", "distressed \u2014 her husband"])

    add("11_no_body.eml", (_hdr(f"Chris Bell <chris.bell@{COUNCIL}>", "Cedars & Pines", "11.nobody@wyvernshire.example.org")
                            + 'Content-Type: text/plain; charset="utf-8"\n\n').encode(),
        "quarantined", reason_contains="no readable text")

    broken = (_hdr(f"Dee Walsh <dee.walsh@{COUNCIL}>", "Concern attached", "12.broken@wyvernshire.example.org")
              + 'Content-Type: multipart/mixed; boundary="==BOUNDARY-THAT-NEVER-APPEARS=="\n\n'
              + "--==SOMETHING-ELSE==\nContent-Type: text/plain\n\nThe care at Tenbury Home Support has been "
              "poor, calls are late.\n--==SOMETHING-ELSE==--\n")
    add("12_broken_mime.eml", broken.encode(), "quarantined", reason_contains="broken MIME")

    dup_body = ("Horizons Supported Living: a tenant told his advocate that staff are holding his bank card and "
                "he has to ask for his own money. No financial agreement is in his file.\n").encode()
    dup_a = _plain(f"Advocacy Wyvern <referrals@advocacy-wyvern.example.org>", "Financial concern - Horizons",
                   "13.dup@advocacy-wyvern.example.org", dup_body)
    add("13_dup_message_id_a.eml", b"Received: from mx1.example.org by mail.example.org; Mon, 16 Nov 2026 09:14:05 +0000\n"
        + dup_a, "stored", words=["bank card"])
    add("14_dup_message_id_b.eml", b"Received: from mx2.example.org by mail.example.org; Mon, 16 Nov 2026 09:14:09 +0000\n"
        + dup_a, "duplicate", duplicate_of="13_dup_message_id_a.eml")

    add("15_out_of_office.eml", _plain(
        f"Gemma Hart <gemma.hart@{COUNCIL}>", "Automatic reply: Concern - Brookvale House medication",
        "15.oof@wyvernshire.example.org",
        b"I am out of the office until Monday 23 November with no access to email. For urgent safeguarding "
        b"matters please contact the duty desk.\n",
        extra="Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All\nIn-Reply-To: <01.plain@wyvernshire.example.org>\n"),
        "auto_reply", reason_contains="auto-replied")

    bounce = EmailMessage()
    bounce["From"] = "Mail Delivery System <MAILER-DAEMON@mail.wyvernshire.example.org>"
    bounce["To"] = f"qa-intelligence@{COUNCIL}"
    bounce["Subject"] = "Undelivered Mail Returned to Sender"
    bounce["Date"] = "Mon, 16 Nov 2026 10:00:00 +0000"
    bounce["Message-ID"] = "<16.bounce@mail.wyvernshire.example.org>"
    bounce.set_content("This is the mail system at host mail.wyvernshire.example.org.\n\nI'm sorry to have to "
                       "inform you that your message could not be delivered.\n")
    bounce.add_attachment("Reporting-MTA: dns; mail.wyvernshire.example.org\n\nFinal-Recipient: rfc822; "
                          "nobody@example.net\nAction: failed\nStatus: 5.1.1\n", subtype="delivery-status")
    bounce.replace_header("Content-Type", bounce["Content-Type"].replace("multipart/mixed", "multipart/report") +
                          "; report-type=delivery-status")
    add("16_bounce.eml", bounce.as_bytes(policy=SMTP), "auto_reply")

    add("17_bulk_newsletter.eml", _plain(
        "Care Sector News <news@caresector-news.example.com>", "This week: CQC single assessment framework update",
        "17.bulk@caresector-news.example.com",
        b"Read our round-up of the week's care sector news. Staffing shortages continue to affect nursing homes "
        b"across the West Midlands.\n\nUnsubscribe: https://caresector-news.example.com/u\n",
        extra="Precedence: bulk\nList-Unsubscribe: <https://caresector-news.example.com/u>\n"),
        "auto_reply", reason_contains="bulk")

    m = _em(f"Olu Bankole <olu.bankole@{COUNCIL}>", "Visit notes - The Old Vicarage", "18.pdf@wyvernshire.example.org")
    m.set_content("Please see the attached visit note from The Old Vicarage.\n\nOlu\n")
    m.add_attachment(_pdf(["Visit note: The Old Vicarage, 10 November 2026",
                           "Kitchen deep clean overdue; out of date milk found in the fridge.",
                           "Two residents' care plans not reviewed since May.",
                           "Manager receptive; action plan requested by 30 November."]),
                     maintype="application", subtype="pdf", filename="visit-note-old-vicarage.pdf")
    add("18_pdf_attachment.eml", m.as_bytes(policy=SMTP), "stored", words=["out of date milk"],
        attachment=("visit-note-old-vicarage.pdf", "application/pdf"))

    m = _em(f"Beth Morgan <beth.morgan@{COUNCIL}>", "Complaint summary - Caring Hands Evesham",
            "19.docx@wyvernshire.example.org")
    m.set_content("Complaint summary attached (Word).\n")
    m.add_attachment(_docx(["Complaint summary: Caring Hands Evesham",
                            "Mrs J's morning calls have been missed four times in two weeks; she was left without "
                            "breakfast or her insulin until the afternoon.",
                            "The agency says a new rota system caused the missed visits."]),
                     maintype="application",
                     subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                     filename="complaint-summary.docx")
    add("19_docx_attachment.eml", m.as_bytes(policy=SMTP), "stored", words=["insulin", "missed four times"],
        attachment=("complaint-summary.docx",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document"))

    inner = _em("Fiona Clarke <fiona.clarke@malvern-surgery.example.net>", "Malvern Domiciliary Services - missed calls",
                "inner.20@malvern-surgery.example.net", date="Wed, 11 Nov 2026 08:30:00 +0000",
                to=f"olu.bankole@{COUNCIL}")
    inner.set_content("Dear Olu,\n\nThree of our patients supported by Malvern Domiciliary Services have had "
                      "double-handed calls attended by a single carer, and one was hoisted by one person, which is "
                      "unsafe. Please could the council look into this.\n\nDr Fiona Clarke\n")
    m = _em(f"Olu Bankole <olu.bankole@{COUNCIL}>", "FW: Malvern Domiciliary Services - missed calls",
            "20.rfc822@wyvernshire.example.org")
    m.set_content("Forwarding as attachment - GP concern.\n")
    m.add_attachment(inner)
    add("20_rfc822_attached.eml", m.as_bytes(policy=SMTP), "stored", original_sender="Fiona Clarke",
        original_subject="Malvern Domiciliary Services - missed calls", words=["hoisted by one person"])

    fwd_a = ("________________________________\n"
             "From: Ruth Millington <ruth.millington@btinternet.example.com>\n"
             "Sent: 15 November 2026 21:12\n"
             "To: Complaints <complaints@wyvernshire.example.org>\n"
             "Subject: Kingfisher Lodge - my uncle\n\n" + TWICE + "\n")
    add("21_forwarded_twice_a.eml", _plain(f"Complaints Team <complaints@{COUNCIL}>",
                                           "FW: Kingfisher Lodge - my uncle", "21.twice@wyvernshire.example.org",
                                           fwd_a.encode()),
        "stored", original_sender="Ruth Millington", words=["pressure sore"])
    fwd_b = ("---------- Forwarded message ---------\n"
             "From: Ruth Millington <ruth.millington@btinternet.example.com>\n"
             "Date: Sun, 15 Nov 2026 at 21:12\n"
             "Subject: Kingfisher Lodge - my uncle\n"
             "To: <cllr.evans@wyvernshire.example.org>\n\n" + TWICE + "\n")
    add("22_forwarded_twice_b.eml", _plain(f"Cllr Gareth Evans <cllr.evans@{COUNCIL}>",
                                           "Fwd: Kingfisher Lodge - my uncle", "22.twice@mail.gmail.example.com",
                                           fwd_b.encode()),
        "duplicate", duplicate_of="21_forwarded_twice_a.eml")

    add("23_quoted_reply.eml", _plain(
        f"Sam Patel <sam.patel@{COUNCIL}>", "Re: Brookvale Court - agency staff", "23.reply@wyvernshire.example.org",
        ("Update: the agency nurse at Brookvale Court I mentioned has now been seen sleeping on a night shift by a "
         "second relative. The home has not suspended her.\n\n"
         "On Mon, 9 Nov 2026 at 10:02, Helen Okafor <helen.okafor@wyvernshire.example.org> wrote:\n"
         "> Thanks Sam, keep me posted on the laundry complaint at Meadow View.\n"
         "> Helen\n").encode(), extra="In-Reply-To: <older@wyvernshire.example.org>\n"),
        "stored", words=["sleeping on a night shift"], absent=["laundry complaint"])

    add("24_signature_disclaimer.eml", _plain(
        f"Mo Iqbal <mo.iqbal@{COUNCIL}>", "Cedarwood Home Support - medicines", "24.sig@wyvernshire.example.org",
        ("Cedarwood Home Support carers are leaving blister packs on the table rather than prompting, and a client "
         "with memory problems took two days' tablets at once on Tuesday.\n\n"
         "Regards\n\nMo Iqbal\nSocial Worker | Older People's Team\nWyvernshire County Council | 01632 960000\n\n"
         + DISCLAIMER + "\n").encode()),
        "stored", words=["blister packs"], absent=["Older People's Team", "monitored and recorded"])

    add("25_x_autoreply.eml", _plain(
        "Bluebell Homecare <office@bluebell-homecare.example.co.uk>", "Re: Your enquiry",
        "25.xauto@bluebell-homecare.example.co.uk", b"Thank you for your email. We will reply within 5 days.\n",
        extra="X-Autoreply: yes\n"), "auto_reply", reason_contains="X-Autoreply")

    add("26_precedence_list.eml", _plain(
        "ADASS West Midlands <list@adass-wm.example.org>", "[ADASS-WM] Provider failure protocol consultation",
        "26.list@adass-wm.example.org", b"Members are invited to comment on the draft provider failure protocol.\n",
        extra="Precedence: list\nList-Id: <adass-wm.lists.example.org>\n"), "auto_reply", reason_contains="list")

    add("27_postmaster.eml", _plain(
        "postmaster@bluebell-homecare.example.co.uk", "Delivery failure", "27.pm@bluebell-homecare.example.co.uk",
        b"Your message to manager@bluebell-homecare.example.co.uk could not be delivered: mailbox full.\n"),
        "auto_reply", reason_contains="mail system")

    add("28_no_message_id.eml", _plain(
        f"Jo Adebayo <jo.adebayo@{COUNCIL}>", "Wye Valley Court - hot water", None,
        b"No hot water in the residents' bathrooms at Wye Valley Court since Wednesday; residents are being "
        b"strip-washed with kettle water.\n"), "stored", words=["kettle water"], key_prefix="sha256:")

    raw = (_hdr("=?utf-8?B?" + base64.b64encode("Siân Llewellyn".encode()).decode() + "?= <sian.llewellyn@"
                + COUNCIL + ">",
                "=?utf-8?Q?Heartlands_Evesham_Homes_=E2=80=93_restraint?=", "29.encoded@wyvernshire.example.org")
           + 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: 8bit\n\n'
           + "A support worker at Heartlands Evesham Homes told me a tenant is locked in his flat at night "
             "\u2014 there is no DoLS authorisation that I can find.\n")
    add("29_encoded_headers.eml", raw.encode(), "stored", words=["DoLS authorisation"],
        subject="Heartlands Evesham Homes \u2013 restraint", sender_contains="Si\u00e2n")

    html = ("<div dir=\"ltr\">Residents at Cedars &amp; Pines told me at the residents' meeting that the lift has "
            "been broken for two weeks and upstairs residents can't get to the garden or the lounge.</div><br>"
            "<div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">On Tue, 10 Nov 2026 at 14:11, Helen "
            "Okafor &lt;helen.okafor@wyvernshire.example.org&gt; wrote:<br></div><blockquote class=\"gmail_quote\">"
            "Please send me anything from the residents' meeting about food.</blockquote></div>")
    m = _em(f"Ana Costa <ana.costa@{COUNCIL}>", "Re: Cedars & Pines residents meeting", "30.htmlquote@mail.gmail.example.com")
    m.set_content(html, subtype="html")
    add("30_html_quoted_gmail.eml", m.as_bytes(policy=SMTP), "stored", words=["lift has been broken"],
        absent=["anything from the residents' meeting about food"])

    m = _em(f"Duty Desk <duty@{COUNCIL}>", "Call note", "31.txt@wyvernshire.example.org")
    m.set_content("Call note attached.\n")
    m.add_attachment(("Caller (neighbour) reports shouting from a resident's room at Bluebell Homecare Bromsgrove "
                      "client's house at 7am and a carer swearing at the client.\n").encode(),
                     maintype="text", subtype="plain", filename="call-note.txt")
    add("31_text_attachment.eml", m.as_bytes(policy=SMTP), "stored", words=["carer swearing"])

    m = _em(f"Lee Grant <lee.grant@{COUNCIL}>", "photo", "32.image@wyvernshire.example.org")
    m.set_content("")
    m.clear_content()
    m.add_attachment(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, maintype="image", subtype="png",
                     filename="IMG_2041.png")
    add("32_image_only.eml", m.as_bytes(policy=SMTP), "quarantined", reason_contains="IMG_2041.png")

    add("33_auto_submitted_no.eml", _plain(
        f"Priya Shah <priya.shah@{COUNCIL}>", "Sunrise Court - staffing at weekends", "33.autono@wyvernshire.example.org",
        b"Sunrise Court rota for last weekend shows one nurse for 46 residents on Saturday night.\n",
        extra="Auto-Submitted: no\n"), "stored", words=["one nurse for 46 residents"])

    raw = ("From: <<<not an address>>>\nTo: undisclosed-recipients:;\nSubject: concern\nDate: someday soon\n"
           "Message-ID: <34.badheaders@unknown>\nContent-Type: text/plain\n\n"
           "The Grange (Grange Park) - residents left in nightwear all day, according to a visiting chiropodist.\n")
    add("34_malformed_headers.eml", raw.encode(), "stored", words=["nightwear all day"])

    m = _em(f"Beth Morgan <beth.morgan@{COUNCIL}>", "Meadow View - falls log", "35.mixed@wyvernshire.example.org")
    m.set_content("Meadow View's falls log shows 14 falls in October against 5 in September; the home has no "
                  "falls lead since the deputy left.\n")
    m.add_alternative("<p>Meadow View's falls log shows <b>14 falls</b> in October against 5 in September; the home "
                      "has no falls lead since the deputy left.</p>", subtype="html")
    m.add_attachment(b"month,falls\n2026-09,5\n2026-10,14\n", maintype="text", subtype="csv", filename="falls.csv")
    add("35_mixed_alternative_csv.eml", m.as_bytes(policy=SMTP), "stored", words=["14 falls", "month,falls"],
        attachment=("falls.csv", "text/csv"))

    add("36_no_mime_8bit.eml", (
        f"From: Gwen Pryce <gwen.pryce@{COUNCIL}>\nTo: qa-intelligence@{COUNCIL}\nSubject: Brookvale Lodge laundry\n"
        "Date: Thu, 19 Nov 2026 16:20:00 +0000\nMessage-ID: <36.nomime@wyvernshire.example.org>\n\n"
        "Brookvale Lodge \u2013 another family says clothes go missing from the laundry every week.\n").encode(),
        "stored", words=["clothes go missing"])

    add("37_base64_html_windows1252.eml", (
        _hdr(f"Mark Ellis <mark.ellis@{COUNCIL}>", "Abbey Lodge follow-up", "37.b64html@wyvernshire.example.org")
        + 'Content-Type: text/html; charset="windows-1252"\nContent-Transfer-Encoding: base64\n\n'
        + base64.encodebytes(("<p>Abbey Lodge\u2019s manager resigned on Friday \u2013 the home is being run by "
                              "the area manager two days a week.</p>").encode("cp1252")).decode()).encode(),
        "stored", words=["Abbey Lodge\u2019s manager resigned"])

    return files, exp


LARGE_NAME = "10_large_attachment.eml"
LARGE_EXPECT = {"outcome": "stored", "words": ["hoist sling"],
                "attachment": ("scan-bundle.zip", "application/zip")}


def large_message(size: int = 15 * 1024 * 1024) -> bytes:
    """A concern with a 15 MB attachment (generated, not committed)."""
    import random

    m = _em(f"Olu Bankole <olu.bankole@{COUNCIL}>", "Photos - Severn View Care Home", "10.large@wyvernshire.example.org")
    m.set_content("Photos from the unannounced visit to Severn View Care Home attached: a torn hoist sling still "
                  "in use and a blocked fire exit.\n")
    rnd = random.Random(10)
    m.add_attachment(rnd.randbytes(size), maintype="application", subtype="zip", filename="scan-bundle.zip")
    return m.as_bytes(policy=SMTP)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--large":
        # For trying the product by hand: write the 15 MB message somewhere outside the repo.
        Path(sys.argv[2]).write_bytes(large_message())
        print(f"wrote {sys.argv[2]}")
        return
    files, exp = build()
    for old in HERE.glob("*.eml"):
        old.unlink()
    for name, raw in files.items():
        (HERE / name).write_bytes(raw.replace(b"\r\n", b"\n"))
    exp[LARGE_NAME] = {**LARGE_EXPECT, "generated": True}
    (HERE / "expected.json").write_text(json.dumps(exp, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"{len(files)} files written, plus {LARGE_NAME} generated at test time")


if __name__ == "__main__":
    main()
