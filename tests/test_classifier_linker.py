"""Provider linking against the register in the store (imported with the lead's importer)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from classifiers.linker import ProviderLinker
from classifiers.register_index import RegisterIndex, index_from_session
from models import Location
from triage import clock
from triage.register_import import import_register

ID = {
    "willows_malvern": "1-1309399305", "willows_redditch": "1-9579847864", "willows_hereford": "1-6478721933",
    "meadow_view": "1-1268905913", "meadowview_lodge": "1-5826625329", "meadow_court": "1-2982053412",
    "meadow_view_ludlow": "1-2337129917", "oak_house": "1-2927391047", "oak_house_bridgnorth": "1-7237319187",
    "mulberry": "1-2843524734", "elm_house": "1-1517412529", "elmhurst": "1-204057249",
    "larkfield": "1-3415220280", "kingfisher": "1-8381036476", "millbrook": "1-5733427081",
    "holly_tree_house": "1-7841674968", "holly_tree_nh": "1-5908611999",
}
BROOKVALE_GROUP = {"1-7208093746", "1-4828366741", "1-1268905913", "1-7829230870", "1-5526553511", "1-1250679220",
                   "1-3211315318"}


def _imported(url: str, shared_register):
    from triage.db import make_engine

    engine = make_engine(url)
    with Session(engine) as session:
        import_register(session=session, directory=shared_register / "cqc_directory.csv")
    return engine


@pytest.fixture(scope="module")
def store_index(shared_register, tmp_path_factory):
    """One imported register for the read-only linking cases."""
    from triage.db import migrate

    url = f"sqlite:///{tmp_path_factory.mktemp('linkdb')}/triage.db"
    migrate(url)
    engine = _imported(url, shared_register)
    with Session(engine) as session:
        yield session, index_from_session(session)
    engine.dispose()


@pytest.fixture
def own_store(shared_register, sqlite_url):
    """A register this test may change."""
    engine = _imported(sqlite_url, shared_register)
    with Session(engine) as session:
        yield session, index_from_session(session)
    engine.dispose()


def link(index, text, **kw):
    return ProviderLinker().link(text, index, **kw)


@pytest.mark.parametrize("text,expected", [
    ("Relative says the Willows in Malvern has not cleaned her room for a week.", {ID["willows_malvern"]}),
    ("Concern about The Willows, Mill Lane, Redditch: call bells slow.", {ID["willows_redditch"]}),
    ("The Willows Hereford have asked about a placement review.", {ID["willows_hereford"]}),
    ("Falls at Meadow View in Ludlow are rising.", {ID["meadow_view_ludlow"]}),
    ("Meadowview Lodge has not replied to the family.", {ID["meadowview_lodge"]}),
    ("Meadow Court's activities coordinator has left.", {ID["meadow_court"]}),
    ("Oak House in Bridgnorth told us about a fall.", {ID["oak_house_bridgnorth"]}),
    ("Oak House said the lift is broken.", {ID["oak_house"]}),
])
def test_look_alikes_told_apart_by_town_and_street(store_index, text, expected):
    _, index = store_index
    assert set(link(index, text).providers) == expected


def test_postcode_alone_identifies_a_home(store_index):
    _, index = store_index
    res = link(index, "Anonymous caller about the care home at WR9 3LJ: residents left in wet pads.")
    assert res.providers == [ID["mulberry"]]
    assert res.evidence[ID["mulberry"]][0]["method"] == "postcode"


def test_street_and_town_alone_identify_a_home(store_index):
    _, index = store_index
    res = link(index, "Complaint about the nursing home on Old Hollow in Droitwich - meals are cold.")
    assert res.providers == [ID["mulberry"]]


def test_former_name_links_to_current_location(store_index):
    _, index = store_index
    res = link(index, "My aunt is at the Laurels Nursing Home and her tablets were missed twice.")
    assert res.providers == [ID["mulberry"]]
    assert res.evidence[ID["mulberry"]][0]["method"] == "former"


def test_misspelling_links_by_fuzzy_ratio(store_index):
    _, index = store_index
    res = link(index, "Kingfisher Lodgе? no - I mean Kingfischer Lodge in Stourport, the food is poor.")
    assert ID["kingfisher"] in res.providers
    res = link(index, "Worried about Milbrook, the nursing home - staff shortages every weekend.")
    assert res.providers == [ID["millbrook"]]


def test_passing_mention_is_not_linked_but_reported(store_index):
    _, index = store_index
    res = link(index, "Mum is at Larkfield now. She moved here from Elm House, which was lovely. At Larkfield "
                      "nobody helps her eat.")
    assert res.providers == [ID["larkfield"]]
    assert any(c["location_id"] == ID["elm_house"] and "passing" in c["reason"] for c in res.candidates)


@pytest.mark.parametrize("text", [
    "Mrs F, 87, was admitted to our ward yesterday from Mulberry Court with bruises nobody could explain.",
    "We admitted a gentleman on 04/11 from Mulberry Court nursing home: no MAR chart came with him.",
])
def test_a_hospital_admission_from_a_home_is_about_that_home(store_index, text):
    # A ward or paramedic reporting the state a resident arrived in is writing about the home,
    # unlike a relative saying where someone used to live.
    _, index = store_index
    assert link(index, text).providers == [ID["mulberry"]]


def test_group_wide_mention_expands_to_the_organisations_locations(store_index):
    _, index = store_index
    res = link(index, "Training compliance has fallen across all Brookvale Care Group homes.")
    assert set(res.providers) == BROOKVALE_GROUP


def test_ambiguous_name_links_nothing_and_lists_candidates(store_index):
    _, index = store_index
    res = link(index, "Voicemail about 'the Willows': no hot water. Caller gave no town.")
    assert res.providers == []
    cands = {c["location_id"] for c in res.candidates}
    assert {ID["willows_malvern"], ID["willows_redditch"]} <= cands


def test_same_town_look_alikes_need_the_street(store_index):
    _, index = store_index
    assert link(index, "Holly Tree in Droitwich - a fall").providers == []
    assert link(index, "Holly Tree on Lickey Road, Droitwich - a fall").providers == [ID["holly_tree_house"]]


def test_sender_display_name_identifies_a_self_report(store_index):
    _, index = store_index
    res = link(index, "We had a power cut this morning; all residents are safe.",
               sender="Larkfield Homes <manager@larkfield.example.org>")
    assert res.providers == [ID["larkfield"]]


def test_linking_follows_register_changes_without_retraining(own_store):
    session, index = own_store
    assert link(index, "Concern about Sunnybank Care Home: meals late.").providers == []
    loc = session.get(Location, ID["larkfield"])
    loc.also_known_as = ["Sunnybank Care Home"]
    loc.updated_at = clock.now()
    session.add(loc)
    session.commit()
    fresh = index_from_session(session)
    assert fresh is not index  # the fingerprint changed, so the index was rebuilt
    assert link(fresh, "Concern about Sunnybank Care Home: meals late.").providers == [ID["larkfield"]]
    assert index_from_session(session) is fresh  # unchanged register: cached


def test_index_from_rows_matches_index_from_store(store_index, shared_register):
    _, index = store_index
    rows_index = RegisterIndex.from_cqc_directory(shared_register / "cqc_directory.csv")
    text = "St Anne's in Upton: the lounge carpet smells. Also Saint Anne's Court in Pershore - fine."
    assert link(rows_index, text).providers == link(index, text).providers


@pytest.mark.parametrize("text,expected", [
    # a contrast with a possessive: "not our Oak House"
    ("Bridgnorth colleagues are worried about Oak House Bridgnorth (not our Oak House) - missed meds.",
     {ID["oak_house_bridgnorth"]}),
    # the second home of a contrast list
    ("To be clear this is Meadow Court, not Meadow View or Meadowview Lodge: MAR gaps again.",
     {ID["meadow_court"]}),
    # moved from a home, named later in the clause, and named again afterwards
    ("Gran went to Larkfield in May from The Willows in Redditch (she was settled at the Willows). "
     "Larkfield have lost her hearing aids twice.", {ID["larkfield"]}),
    # a manager lent by another home
    ("Kingfisher has no manager on site; the group will send the deputy from Millbrook two days a week.",
     {ID["kingfisher"]}),
    # a former employer
    ("Visited Mulberry today, all fine. New deputy starts Monday (ex-Elmhurst).", {ID["mulberry"]}),
])
def test_passing_and_contrast_mentions_are_not_linked(store_index, text, expected):
    _, index = store_index
    assert set(link(index, text).providers) == expected


def test_home_name_running_into_its_providers_name_is_the_provider(store_index):
    _, index = store_index
    # "Sunrise" starts a home's name (Sunrise Court) but here it is Sunrise Living Homes, Oak House's provider.
    res = link(index, "Oak House on Bridge Street in Redditch (the Sunrise Living home) - staff filmed a resident.")
    assert set(res.providers) == {ID["oak_house"]}


def test_a_word_of_a_town_name_is_not_a_home(demo_register, sqlite_url):
    """Severnshire has the town Ashby Parva and the home Parva Gardens Extra Care."""
    from triage.db import make_engine

    engine = make_engine(sqlite_url)
    reg = demo_register
    with Session(engine) as session:
        import_register(session=session, directory=reg / "cqc_directory.csv")
        index = index_from_session(session)
    parva_gardens = "1-2907981839"
    assert link(index, 'Has anyone heard of "Primrose Bank" care home in Ashby Parva? Not on our list.').providers == []
    assert set(link(index, "Lovely care at Larchwood Lodge in Ashby Parva, thank you.").providers) == {"1-7997801516"}
    assert set(link(index, "Parva Gardens said the lift is fixed.").providers) == {parva_gardens}
    engine.dispose()
