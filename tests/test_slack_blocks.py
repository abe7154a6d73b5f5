"""The pure Block Kit builders: what each message and view shows, and Slack's limits."""

from __future__ import annotations

import json

from bot import blocks


def _strings(x) -> str:
    out = []

    def walk(v):
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for w in v.values():
                walk(w)
        elif isinstance(v, list):
            for w in v:
                walk(w)

    walk(x)
    return "\n".join(out)


def _buttons(bl) -> list[dict]:
    return [el for b in bl if b["type"] == "actions" for el in b["elements"]]


def test_triage_reply_shows_tags_only_with_both_buttons():
    text, bl = blocks.triage_reply(concern_id=7, reference="CC-000007", homes=["Brookvale Lodge, Redditch"],
                                   domains=["safe", "well-led"], urgency="high")
    s = _strings(bl)
    assert "CC-000007" in s and "Brookvale Lodge, Redditch" in s and "Safe, Well-led" in s and "High" in s
    assert [(b["action_id"], b["value"]) for b in _buttons(bl)] == [("correct_tags", "7"), ("not_concern", "7")]
    assert "CC-000007" in text


def test_triage_reply_states():
    _, withdrawn = blocks.triage_reply(concern_id=1, reference="CC-1", homes=[], domains=[], urgency=None,
                                       status="withdrawn")
    assert _buttons(withdrawn) == [] and "withdrawn" in _strings(withdrawn)
    assert "no home identified" in _strings(withdrawn)
    _, dismissed = blocks.triage_reply(concern_id=1, reference="CC-1", homes=[], domains=[], urgency="none",
                                       status="not_concern", corrected_by="U123")
    assert [b["action_id"] for b in _buttons(dismissed)] == ["correct_tags"] and "<@U123>" in _strings(dismissed)
    _, corrected = blocks.triage_reply(concern_id=1, reference="CC-1", homes=[], domains=[], urgency="low",
                                       corrected_by="Priya Sharma")
    assert "corrected by Priya Sharma" in _strings(corrected)


def test_homes_with_markup_are_escaped():
    _, bl = blocks.triage_reply(concern_id=1, reference="CC-1", homes=["Cedars & Pines <b>"], domains=[],
                                urgency="low")
    assert "Cedars &amp; Pines &lt;b&gt;" in _strings(bl)


def test_correction_modal_prefills_every_select():
    view = blocks.correction_modal(concern_id=3, reference="CC-3", excerpt="x" * 5000,
                                   homes=[("1-1", "Oak House, Ludlow")], domains=["safe"], topics=["falls"],
                                   safeguarding=["neglect"], urgency="high", metadata={"channel": "C1"})
    by_id = {b.get("block_id"): b for b in view["blocks"]}
    assert by_id["homes"]["element"]["type"] == "multi_external_select"
    assert [o["value"] for o in by_id["homes"]["element"]["initial_options"]] == ["1-1"]
    assert [o["value"] for o in by_id["domains"]["element"]["initial_options"]] == ["safe"]
    assert [o["value"] for o in by_id["topics"]["element"]["initial_options"]] == ["falls"]
    assert [o["value"] for o in by_id["safeguarding"]["element"]["initial_options"]] == ["neglect"]
    assert by_id["urgency"]["element"]["initial_option"]["value"] == "high"
    assert json.loads(view["private_metadata"]) == {"concern_id": 3, "channel": "C1"}
    assert len(view["blocks"][0]["elements"][0]["text"]) < 3000  # the excerpt is clipped
    assert len(view["title"]["text"]) <= 24


def test_correction_modal_without_labels_omits_initial_options():
    """Slack rejects an empty initial_options list."""
    view = blocks.correction_modal(concern_id=3, reference="CC-3", excerpt="", homes=[], domains=[], topics=[],
                                   safeguarding=[], urgency=None)
    for b in view["blocks"]:
        if b["type"] == "input" and b["element"]["type"].startswith("multi"):
            assert "initial_options" not in b["element"]
    urg = next(b for b in view["blocks"] if b.get("block_id") == "urgency")
    assert urg["element"]["initial_option"]["value"] == "none"


def test_alert_message_buttons_and_acknowledged_state():
    concerns = [{"reference": "CC-9", "urgency": "immediate", "domains": ["safe"], "topics": [],
                 "safeguarding": ["physical"], "evidence": ["carer grabbed her"]}]
    text, bl = blocks.alert_message(alert_id=5, kind="concern", urgency="immediate", status="open",
                                    home="Oak House, Ludlow", home_rating="red", home_score=61.2, concerns=concerns,
                                    reasons=[], open_url="https://x/concerns/9")
    s = _strings(bl)
    assert "Oak House" in s and "Red" in s and "61" in s and "CC-9" in s and "Physical" in s
    assert "carer grabbed her" in s  # evidence: this is a DM to the officer, not a shared channel
    assert [b["action_id"] for b in _buttons(bl)] == ["alert_ack", "alert_reassign", "alert_open"]
    assert _buttons(bl)[2]["url"] == "https://x/concerns/9"
    _, done = blocks.alert_message(alert_id=5, kind="concern", urgency="immediate", status="acknowledged",
                                   home="Oak House", home_rating=None, home_score=None, concerns=concerns, reasons=[],
                                   open_url=None, acknowledged_by="U0KZ0AHE7JR", acknowledged_at="10:02 on 23 Nov")
    assert _buttons(done) == [] and "Acknowledged by <@U0KZ0AHE7JR> at 10:02" in _strings(done)


def test_alert_message_caps_long_groups():
    concerns = [{"reference": f"CC-{i}", "urgency": "high", "domains": [], "topics": [], "safeguarding": [],
                 "evidence": ["e" * 1000] * 5} for i in range(40)]
    _, bl = blocks.alert_message(alert_id=1, kind="early_warning", urgency="high", status="open", home="H",
                                 home_rating="amber", home_score=30, concerns=concerns, reasons=["r"] * 9,
                                 open_url=None)
    assert len(bl) <= blocks.MAX_BLOCKS_MESSAGE
    assert "32 more" in _strings(bl)
    assert all(len(b["text"]["text"]) <= 3000 for b in bl if b["type"] == "section")


def test_app_home_stays_within_slack_limits():
    rows = {u: [{"id": i, "reference": f"CC-{i}", "home": "Home", "domains": ["safe"], "received": "2026-11-01"}
                for i in range(60)] for u in ("immediate", "high", "medium", "low", "none")}
    portfolio = [{"name": f"Home {i}", "rating": "amber", "score": 30.0, "cqc_overall": "Good"} for i in range(200)]
    view = blocks.app_home(officer_name="Priya", concerns_by_urgency=rows, portfolio=portfolio,
                           open_url_template="https://x/concerns/{id}")
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert all(len(b["text"]["text"]) <= 3000 for b in view["blocks"] if b["type"] == "section")
    assert "<https://x/concerns/0|CC-0>" in _strings(view)
    assert "35 more" in _strings(view)


def test_home_options_cap_at_100_and_clip_labels():
    opts = blocks.home_options([(f"1-{i}", "A very long home name " * 5) for i in range(150)])
    assert len(opts) == 100 and all(len(o["text"]["text"]) <= 75 for o in opts)


def test_risk_card_without_assessment_or_ratings():
    _, bl = blocks.risk_card(name="New Home", location_id="1-1", town=None, rating=None, score=None, reason=None,
                             cqc=[], officer=None, recent=[])
    s = _strings(bl)
    assert "not yet assessed" in s and "Not yet rated" in s and "none assigned" in s
