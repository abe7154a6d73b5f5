"""End to end: the shared register, the dev concerns through the real pipeline, the matrix,
routing to the right officers and an unacknowledged immediate alert reaching the manager.

The classifier is replaced by the hand labels (routing and scoring take labels as input;
the classifier has its own tests), so this checks the risk side against ground truth.
"""

from __future__ import annotations

import csv
import json

import pytest
from sqlmodel import select

from models import Alert, AlertConcern, Concern, Location
from risk_helpers import stop_schedulers  # noqa: F401
from triage.pipeline import ConcernIn, ingest_concern
from triage.register_import import import_register
from triage.risk import scheduling
from triage.risk.matrix import matrix_rows
from triage.services import Services
from triage.text import clean_text


class GoldLabels:
    def __init__(self, by_text):
        self.by_text = by_text

    def classify(self, text, *, subject=None, sender=None, session=None, cleaned=True):
        labels = self.by_text[text]

        class R:
            def to_dict(self_inner):
                return {**labels, "confidence": {}, "evidence": {}, "model_version": "gold"}

        return R()


@pytest.fixture
def dev_items(shared_register):
    path = shared_register.parent / "eval" / "dev.jsonl"
    if not path.is_file():
        pytest.skip("no shared dev set")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def expected_recipients(item, portfolio, monitored) -> set[str]:
    g = item["gold"]
    out = set()
    for lid in g["providers"]:
        out.add(portfolio[lid] if lid in monitored else "DUTY")
    if not g["providers"]:
        out.add("DUTY")
    if g["urgency"] == "immediate" and g["safeguarding"]:
        out.add("SGL1")
    return out


def test_dev_set_through_pipeline(session, engine, settings_factory, frozen_clock, shared_register, dev_items):
    import_register(session=session, directory=shared_register / "cqc_directory.csv",
                    ratings=shared_register / "ratings.csv", officers=shared_register / "officers.csv",
                    portfolio=shared_register / "portfolio.csv")
    portfolio = {r["location_id"]: r["officer_id"] for r in csv.DictReader(open(shared_register / "portfolio.csv"))}
    monitored = set(portfolio)
    services = Services(settings=settings_factory(smtp_host="127.0.0.1", smtp_port=2, smtp_security="none"),
                        engine=engine)
    by_text = {}
    for it in dev_items:
        by_text[clean_text(it["text"])] = it["gold"]
    services.set_classifier(GoldLabels(by_text))

    first_immediate = None
    concern_of = {}
    for it in dev_items:
        res = ingest_concern(session=session, services=services, concern_in=ConcernIn(
            source=it["source"], external_id=it["id"], text=it["text"], sender=it.get("sender"),
            subject=it.get("subject"), channel=it.get("channel")))
        assert res.outcome == "stored"
        concern_of[it["id"]] = res.concern.id
        if first_immediate is None and it["gold"]["urgency"] == "immediate" and it["gold"]["providers"] \
                and set(it["gold"]["providers"]) <= monitored:
            first_immediate = (it, res.concern.id, frozen_clock.now())
        frozen_clock.advance(minutes=7)

    # Every concern reached exactly the right officers (once each).
    for it in dev_items:
        cid = concern_of[it["id"]]
        got = session.exec(select(Alert.recipient_id).join(AlertConcern, AlertConcern.alert_id == Alert.id)
                           .where(AlertConcern.concern_id == cid, Alert.kind == "concern")).all()
        if it["gold"]["urgency"] == "none":
            assert got == [], it["id"]
            continue
        assert sorted(got) == sorted(expected_recipients(it, portfolio, monitored)), it["id"]

    # Every home's rating is explained by its factors.
    rows = matrix_rows(session=session, settings=services.settings)
    assert len([r for r in rows if r["monitored"]]) == len(monitored)
    for r in rows:
        assert r["score"] == pytest.approx(sum(f["points"] for f in r["factors"]), abs=0.3), r["location_id"]
        assert all(f["why"] for f in r["factors"])
    assert {r["rating"] for r in rows} >= {"green", "amber"}

    # The first immediate alert, never acknowledged, reaches the officer's manager after the delay.
    it, cid, at = first_immediate
    root = session.exec(select(Alert).join(AlertConcern, AlertConcern.alert_id == Alert.id)
                        .where(AlertConcern.concern_id == cid, Alert.kind == "concern",
                               Alert.reason == "portfolio")).first()
    assert root.escalates_at is not None
    scheduling.shutdown()  # restart: the timer is in the database
    sched = scheduling.get_scheduler(services)
    job = sched.get_job(f"escalate:{root.id}")
    assert job is not None
    job.func(*job.args)
    session.expire_all()
    officers = {r["officer_id"]: r for r in csv.DictReader(open(shared_register / "officers.csv"))}
    esc = session.exec(select(Alert).where(Alert.escalated_from_id == root.id)).all()
    assert [e.recipient_id for e in esc] == [officers[root.recipient_id]["manager_id"]]
    assert session.get(Concern, cid).urgency == "immediate"
    assert session.get(Location, it["gold"]["providers"][0]) is not None
