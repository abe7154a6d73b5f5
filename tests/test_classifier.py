"""The trained classifier end to end: train -> load -> classify, the output contract, CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import Session

from classifiers import load_classifier
from classifiers.register_index import RegisterIndex
from triage.services import ModelMissingError

REPO = Path(__file__).resolve().parent.parent
WILLOWS_REDDITCH = "1-9579847864"
LARKFIELD = "1-3415220280"


@pytest.fixture(scope="module")
def index(shared_register):
    return RegisterIndex.from_cqc_directory(shared_register / "cqc_directory.csv")


def test_missing_model_says_to_run_train(tmp_path):
    with pytest.raises(ModelMissingError, match="triage train"):
        load_classifier(tmp_path / "nothing-here")


def test_round_trip_contract(trained_classifier, index):
    text = ("From: A Nurse <nurse@nhs.example.net>\nSent: 4 November 2026\nTo: QA\nSubject: urgent\n\n"
            "This morning a carer at The Willows, Mill Lane, Redditch slapped a resident across the face. "
            "Police attended.\n\nKind regards\nA Nurse")
    d = trained_classifier.classify(text, subject="FW: urgent - The Willows", register=index).to_dict()
    assert set(d) >= {"providers", "domains", "topics", "safeguarding", "urgency", "confidence", "evidence",
                      "candidates", "model_version"}
    assert d["providers"] == [WILLOWS_REDDITCH]
    assert d["urgency"] == "immediate"
    assert "physical" in d["safeguarding"] and "safe" in d["domains"]
    assert d["model_version"] == trained_classifier.version
    # evidence: the span that drove the link, and the named rule that raised urgency
    ev = d["evidence"]["providers"][WILLOWS_REDDITCH][0]
    assert {"text", "start", "end", "method"} <= set(ev)
    assert any(e.get("rule") == "physical_assault" for e in d["evidence"]["urgency"])
    assert 0.0 <= d["confidence"]["urgency"] <= 1.0
    assert set(d["confidence"]["safeguarding"]) == set(d["safeguarding"])
    json.dumps(d)  # serialisable as it is stored


def test_rule_span_offsets_point_into_the_cleaned_text(trained_classifier, index):
    from triage.text import clean_text

    text = "Staff at Larkfield told me a resident has been missing since 5am and police are searching."
    d = trained_classifier.classify(text, register=index).to_dict()
    hits = [e for e in d["evidence"]["urgency"] if "rule" in e and e["field"] == "text"]
    assert hits
    body = clean_text(text)
    assert all(body[h["start"]:h["end"]] == h["text"] for h in hits)


def test_label_evidence_is_spans_of_the_text_that_drove_each_label(trained_classifier, index):
    from triage.text import clean_text

    subject = "Concern - Larkfield"
    text = ("At Larkfield the MAR chart shows her warfarin was missed twice this week and her insulin "
            "was given late. Staff said they were short again. No complaints about the food.")
    d = trained_classifier.classify(text, subject=subject, register=index).to_dict()
    body = clean_text(text)
    assert d["topics"]
    spans = [(fld, lab, sp) for fld in ("domains", "topics", "safeguarding")
             for lab in d[fld] for sp in d["evidence"][fld][lab]]
    assert all(d["evidence"]["topics"][t] for t in d["topics"]), "every topic shows what drove it"
    for fld, lab, sp in spans:
        where = body if sp["field"] == "text" else subject
        assert where[sp["start"]:sp["end"]] == sp["text"], (fld, lab, sp)
        assert sp["text"].strip()
    assert "medication" in d["topics"]
    medication = " ".join(sp["text"].lower() for sp in d["evidence"]["topics"]["medication"])
    assert any(w in medication for w in ("mar", "warfarin", "missed", "insulin")), d["evidence"]["topics"]
    model_ev = d["evidence"]["urgency"][0]
    assert model_ev["model"] and all(body[s["start"]:s["end"]] == s["text"] for s in model_ev["spans"]
                                     if s["field"] == "text")


def test_marked_tokens_are_the_words_the_model_reads_with_their_offsets():
    from classifiers.model import marked_tokens, masked_text, negation_marked

    text = "No concerns about Oak House, Redditch.\nBut the MAR wasn't signed; staff didn't call the GP!"
    home = (text.index("Oak House"), text.index("Oak House") + len("Oak House"))
    toks = marked_tokens(text, 3, [home], "homename")
    assert " ".join(t for t, _s, _e in toks) == negation_marked(masked_text(text, [home], "homename"), 3)
    assert ("neg_homename", *home) in toks  # a masked home is one word, negated like any other
    for tok, s, e in toks:
        if not tok.endswith("homename"):
            assert text[s:e].lower() == tok.removeprefix("neg_")
    assert [t for t, _s, _e in toks][:3] == ["no", "neg_concerns", "neg_about"]


def test_out_of_office_is_none_with_every_list_empty(trained_classifier, index):
    d = trained_classifier.classify(
        "Thank you for your email. I am out of the office until Monday 9 November with limited access to email. "
        "For anything urgent please contact the duty desk. Regarding Larkfield, I will reply on my return.",
        subject="Automatic reply: Larkfield visit", register=index).to_dict()
    assert d["urgency"] == "none"
    assert d["providers"] == d["domains"] == d["topics"] == d["safeguarding"] == []
    assert any(c["location_id"] == LARKFIELD for c in d["candidates"])


def test_batch_equals_one_at_a_time(trained_classifier, index):
    items = [{"text": "Food at Larkfield is cold every lunchtime and there is no choice.", "subject": None},
             {"text": "Thanks, received. See you at the meeting on Tuesday at 10.", "subject": "Re: meeting"}]
    batch = [r.to_dict() for r in trained_classifier.classify_batch(items, register=index)]
    single = [trained_classifier.classify(i["text"], subject=i["subject"], register=index).to_dict() for i in items]
    assert batch == single


def test_cleaned_flag_skips_cleaning(trained_classifier, index):
    quoted = "Noted, thanks.\n\nOn Mon, 2 Nov 2026 at 10:00, X <x@example.org> wrote:\n> Larkfield residents hit by staff"
    raw = trained_classifier.classify(quoted, register=index).to_dict()
    assert raw["providers"] == []  # the quoted reply does not drive labels
    as_is = trained_classifier.classify(quoted, cleaned=True, register=index).to_dict()
    assert LARKFIELD in as_is["providers"] or LARKFIELD in {c["location_id"] for c in as_is["candidates"]}


def test_classify_with_session_reads_the_register_from_the_store(trained_classifier, shared_register, sqlite_url):
    from triage.db import make_engine
    from triage.register_import import import_register

    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        import_register(session=session, directory=shared_register / "cqc_directory.csv")
        d = trained_classifier.classify("Larkfield: residents left in wet pads overnight.", session=session).to_dict()
    engine.dispose()
    assert d["providers"] == [LARKFIELD]


# ---------------------------------------------------------------------- CLI
@pytest.fixture
def cli_env(settings_factory, tmp_path, monkeypatch, shared_register):
    """Settings for the CLI through the environment, with the register imported."""
    from triage.cli import main

    db = tmp_path / "triage.db"
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(tmp_path / "classifier"))
    runner = CliRunner()
    return runner, main, tmp_path


def _small_data(tmp_path: Path) -> Path:
    """A small training set: a slice of every training file, all urgency levels present."""
    out = tmp_path / "data" / "concerns"
    out.mkdir(parents=True)
    lines = []
    for path in sorted((REPO / "training_data" / "concerns").glob("*.jsonl")):
        lines.extend(path.read_text(encoding="utf-8").splitlines()[::6])
    (out / "small.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out.parent


def test_cli_classify_without_model_or_register_fails_clearly(cli_env, tmp_path):
    runner, main, _ = cli_env
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "1", "text": "hello"}) + "\n")
    res = runner.invoke(main, ["classify", "--in", str(inp), "--out", str(tmp_path / "out.jsonl")])
    assert res.exit_code != 0 and "triage train" in res.output


def test_cli_train_classify_evaluate(cli_env, shared_register, tmp_path):
    from triage.config import reset_settings_cache

    runner, main, _ = cli_env
    reset_settings_cache()
    inp = tmp_path / "in.jsonl"
    gold = {"providers": [LARKFIELD], "domains": ["caring"], "topics": ["dignity_respect"], "safeguarding": [],
            "urgency": "medium"}
    rows = [{"id": "a", "text": "Larkfield: residents left in wet pads overnight, not washed until lunch.", "gold": gold},
            {"id": "b", "text": "I am out of the office until Monday.", "subject": "Automatic reply",
             "gold": {"providers": [], "domains": [], "topics": [], "safeguarding": [], "urgency": "none"}}]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))

    res = runner.invoke(main, ["train", "--data", str(_small_data(tmp_path))])
    assert res.exit_code == 0, res.output
    versions = [p for p in (tmp_path / "classifier").iterdir() if p.is_dir()]
    meta = json.loads((versions[0] / "meta.json").read_text())
    assert meta["data_hash"] and meta["metrics"]["cross_validated"] and "urgency" in meta["labels"]
    assert (tmp_path / "classifier" / "current").read_text().strip() == meta["version"]

    # no register yet: classify says how to import it
    res = runner.invoke(main, ["classify", "--in", str(inp), "--out", str(tmp_path / "out.jsonl")])
    assert res.exit_code != 0 and "register import" in res.output

    res = runner.invoke(main, ["register", "import", "--directory", str(shared_register / "cqc_directory.csv")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["classify", "--in", str(inp), "--out", str(tmp_path / "out.jsonl")])
    assert res.exit_code == 0, res.output
    out = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["id"] for o in out] == ["a", "b"]
    assert out[0]["providers"] == [LARKFIELD] and out[1]["urgency"] == "none"
    assert all({"confidence", "evidence"} <= set(o) for o in out)

    res = runner.invoke(main, ["evaluate", "--gold", str(inp), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["providers"]["recall"] == 1.0
    assert report["urgency"]["confusion"]["none"]["none"] == 1
    assert set(report["fields"]) == {"domains", "topics", "safeguarding"}
    res = runner.invoke(main, ["evaluate", "--gold", str(inp)])
    assert res.exit_code == 0 and "immediate recall" in res.output and "Worst errors" in res.output


def test_domains_follow_the_chosen_topics(trained_classifier, index):
    from classifiers.model import DOMAIN_OF_TOPIC

    d = trained_classifier.classify(
        "The Willows, Mill Lane, Redditch: insulin was missed twice this week and the MAR chart has gaps.",
        register=index).to_dict()
    assert "medication" in d["topics"]
    for topic in d["topics"]:
        if topic in DOMAIN_OF_TOPIC:  # care_planning_records implies no one domain (GUIDE section 2)
            assert DOMAIN_OF_TOPIC[topic] in d["domains"]


def test_safeguarding_label_carries_its_cue_as_evidence(trained_classifier, index):
    d = trained_classifier.classify(
        "Larkfield: a resident told her daughter that a night carer slapped her and pinched her arm; "
        "there is fresh bruising on her forearm.", register=index).to_dict()
    assert "physical" in d["safeguarding"]
    cue = d["evidence"]["safeguarding_cues"].get("physical")
    if cue is not None:  # given on a cue, not on the model's certainty alone
        assert cue["field"] == "text" and cue["text"].lower() in ("slapped", "pinched", "bruising")


def test_slim_artefact_gives_the_same_answers_as_the_full_one(trained_model_dir, index):
    import joblib

    from classifiers import current_version
    from classifiers.model import Classifier

    version = current_version(trained_model_dir)
    full = joblib.load(trained_model_dir / version / "model.joblib")
    slim = load_classifier(trained_model_dir)
    assert slim.artefact.get("slim")
    ref = Classifier(artefact=full, config=full["config"])
    texts = [{"text": "Meadow Court: two residents had falls overnight, one to hospital with a hip fracture."},
             {"text": "Thanks, received. Speak Tuesday."}]
    a = [c.to_dict() for c in slim.classify_batch(texts, register=index)]
    b = [c.to_dict() for c in ref.classify_batch(texts, register=index)]
    for x, y in zip(a, b):
        for key in ("providers", "domains", "topics", "safeguarding", "urgency"):
            assert x[key] == y[key]


def test_automatic_reply_is_none_even_when_it_names_homes_and_urgency(trained_classifier, index):
    d = trained_classifier.classify(
        "I am visiting Larkfield and The Willows in Redditch today. For urgent matters please ring the duty desk.",
        subject="Automatic reply: monitoring visit notes", register=index).to_dict()
    assert d["urgency"] == "none" and d["providers"] == [] and d["topics"] == []
    assert any(ev.get("rule") == "auto_reply" for ev in d["evidence"]["urgency"])
