"""triage.text: the concern's own words survive; headers, quotes, signatures and disclaimers do not."""

from triage.text import clean_text, split_text

OUTLOOK_FORWARD = """Hi team - FYI see below, can someone pick this up?

From: Sarah Pike <s.pike@nhs.example.net>
Sent: 04 November 2026 09:12
To: QA Duty Desk <qa.duty@example.org>
Subject: Bruising - resident at Larkfield

Morning,

I visited a lady at Larkfield today and found bruising to both forearms that staff could not explain.

Kind regards
Sarah Pike
District Nurse
01632 000000
"""


def test_outlook_forward_keeps_note_and_original_body_drops_headers_and_signature():
    parts = split_text(OUTLOOK_FORWARD)
    assert "FYI see below" in parts.body
    assert "bruising to both forearms" in parts.body
    assert "From:" not in parts.body and "Sent:" not in parts.body and "Subject:" not in parts.body
    assert "s.pike@nhs.example.net" in parts.forward_headers
    assert "District Nurse" in parts.signature and "District Nurse" not in parts.body
    assert parts.original_headers["subject"] == "Bruising - resident at Larkfield"


def test_gmail_forward_marker_and_headers_removed():
    text = ("---------- Forwarded message ---------\nFrom: Jo Bloggs <jo@example.com>\nDate: Mon, 2 Nov 2026 at 10:01\n"
            "Subject: Meals\nTo: <qa@example.org>\n\nThe food at Vine House is cold every lunchtime.\n")
    out = clean_text(text)
    assert out == "The food at Vine House is cold every lunchtime."


def test_quoted_reply_is_not_body():
    text = ("Thanks, received - will log it.\n\nOn Tue, 3 Nov 2026 at 14:02, Priya <priya@example.org> wrote:\n"
            "> There are no staff on tonight at Oak House.\n> Please ring me.\n")
    parts = split_text(text)
    assert parts.body == "Thanks, received - will log it."
    assert "no staff on tonight" in parts.quoted


def test_confidentiality_disclaimer_removed_even_mid_paragraph():
    text = ("I am away until Monday. This email and any attachments are confidential and intended solely for the "
            "addressee. If you have received it in error please delete it.")
    parts = split_text(text)
    assert parts.body == "I am away until Monday."
    assert "confidential" in parts.disclaimer


def test_signature_after_dash_dash_and_mobile_footer():
    assert clean_text("Falls are up again.\n-- \nJane\nQA Officer") == "Falls are up again."
    assert clean_text("Call bells slow.\n\nSent from my iPhone") == "Call bells slow."


def test_plain_slack_post_unchanged():
    text = "woodlands NH - RM off sick, deputy acting. med"
    assert clean_text(text) == text


def test_long_body_without_signoff_is_not_mistaken_for_signature():
    text = "Line one of the concern.\n\nShe has not had a drink since breakfast\nand looks unwell"
    assert "looks unwell" in clean_text(text) or "drink since breakfast" in clean_text(text)
    assert "Line one" in clean_text(text)


def test_empty_and_none_safe():
    assert clean_text("") == ""
    assert split_text(None).body == ""


def test_a_quoted_block_introduced_with_a_colon_is_content():
    from triage.text import clean_text

    text = ("Passing this on from our online form:\n> Home: the care home on Station Road\n"
            "> Concern: Dad's medication was late three days running.\n")
    body = clean_text(text)
    assert "Dad's medication was late" in body and ">" not in body


def test_a_reply_history_is_still_quoted():
    from triage.text import clean_text

    text = ("Thanks, noted.\n\nOn 3 Nov 2026, A Person <a@example.org> wrote:\n> The lift at Oak House is broken.\n")
    assert "lift" not in clean_text(text)


def test_a_text_message_passed_on_with_a_short_note_is_content():
    text = ("SMS received on the OOH text line 22:14, forwarded to EDT and QA.\n\n"
            "> this is a carer at the lodge. a resident has fell down the back stairs and is not waking up properly\n")
    body = clean_text(text)
    assert "fell down the back stairs" in body and ">" not in body
    assert "not waking up" in clean_text("for the file, will raise at visit\n> SMS from Mr K: dad is not waking up\n")


def test_an_acknowledgement_or_a_long_reply_keeps_the_quote_out():
    assert "lift" not in clean_text("Thanks, received and logged.\n> The lift at Oak House is broken.\n")
    assert "lift" not in clean_text("For info, still waiting.\n> On 9 Nov 2026, at 11:02, A Person wrote:\n"
                                    "> The lift at Oak House is broken.\n")
    long_reply = "See below for my answers. " + "We reviewed the care plans and the rota with the manager. " * 8
    assert "lift" not in clean_text(long_reply + "\n> The lift at Oak House is broken.\n")
