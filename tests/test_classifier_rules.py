"""Urgency rules: named Matcher rules that raise urgency, with negation and historic handling."""

from __future__ import annotations

import pytest
import spacy

from classifiers.urgency_rules import UrgencyRules, max_level


@pytest.fixture(scope="module")
def rules():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    r = UrgencyRules(nlp.vocab)
    return lambda text: r(nlp(text))


@pytest.mark.parametrize("text,rule", [
    ("A carer slapped a resident across the face this morning.", "physical_assault"),
    ("Resident B was pushed over by another resident last night.", "physical_assault"),
    ("She says a night carer touched her inappropriately.", "sexual_abuse"),
    ("Mr T has been missing from the home since 6am, police are searching.", "missing_person"),
    ("Unexplained bruising to both arms found on her today.", "unexplained_injury"),
    ("There are no staff on tonight for the second floor.", "unsafe_staffing_now"),
    ("The home is closing on Friday and 20 residents still have nowhere to go.", "imminent_closure"),
    ("No heating in the building since yesterday and it is freezing.", "no_heating_or_water"),
    ("Norovirus outbreak: two residents admitted to hospital and one died overnight.", "outbreak_deaths_admissions"),
    ("A resident died unexpectedly and the coroner has been informed.", "death_unclear_circumstances"),
    ("Workers live nine to a house and their passports are kept by the recruiter.", "passports_withheld"),
])
def test_immediate_rules_fire_and_are_named(rules, text, rule):
    hits = rules(text)
    assert rule in {h.rule for h in hits}
    assert max_level(h.level for h in hits) == "immediate"
    hit = next(h for h in hits if h.rule == rule)
    assert text[hit.start:hit.end] == hit.text


@pytest.mark.parametrize("text,rule", [
    ("He has a grade 4 pressure ulcer on his sacrum.", "pressure_ulcer_grade_3_4"),
    ("CQC rated the home inadequate and served a warning notice.", "regulatory_enforcement"),
    ("The registered manager walked out on Monday.", "manager_walked_out"),
    ("Staff wages were paid late again this month.", "financial_failure"),
    ("A whistleblower says night staff sleep on shift.", "whistleblowing"),
])
def test_high_rules(rules, text, rule):
    hits = rules(text)
    assert rule in {h.rule for h in hits}
    assert max_level(h.level for h in hits) == "high"


@pytest.mark.parametrize("text", [
    "There was no unexplained bruising when I checked her today.",
    "Staff said nobody was hit; no one slapped her.",
    "No concerns: the resident is not missing, she was at the day centre.",
    "Staff confirmed that no passports were taken or kept by the agency.",
])
def test_negated_mentions_do_not_raise(rules, text):
    assert max_level(h.level for h in rules(text)) != "immediate"


@pytest.mark.parametrize("text", [
    "In 2024 a carer slapped a resident; the case was closed after the investigation.",
    "Historic concern: a resident went missing years ago. Nothing current.",
    "The outbreak has been declared over; earlier, two residents were admitted to hospital.",
    "In 2023 a recruiter kept the workers' passports; the case was closed after the police investigation.",
])
def test_historic_or_closed_incidents_do_not_raise(rules, text):
    assert max_level(h.level for h in rules(text)) != "immediate"


def test_now_cue_beats_message_level_history(rules):
    text = "The 2023 safeguarding case was closed. Today a carer slapped a resident in the lounge."
    assert "physical_assault" in {h.rule for h in rules(text)}


def test_safeguarding_cues_need_unnegated_evidence():
    from classifiers.safeguarding_cues import SafeguardingCues

    cues = SafeguardingCues()
    found = cues.find("A carer slapped Mrs B across the face and shouted at her.")
    assert "physical" in found and found["physical"][2].lower() == "slapped"
    assert "psychological" in found
    assert "physical" not in cues.find("Body map checked: no bruising, no injuries.")
    assert "sexual" not in cues.find("Stained carpets in the lounge and the menu is repetitive.")


def test_slim_tfidf_matches_sklearn():
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from classifiers.slim import SlimTfidf

    docs = ["No concerns about MAR  charts", "resident fell; no   injury", "a b", "call bells slow at night"]
    for vec in (TfidfVectorizer(analyzer="word", token_pattern=r"\S+", ngram_range=(1, 2), sublinear_tf=True),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)):
        vec.fit(docs)
        new = ["no concerns about meds", "Resident   FELL again", ""]
        assert np.allclose(vec.transform(new).toarray(), SlimTfidf.from_sklearn(vec).transform(new).toarray(), atol=1e-6)
