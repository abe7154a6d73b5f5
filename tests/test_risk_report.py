"""Quality Board report (HTML and CSV), the risk card, and the `risk`, `alerts`, `report` commands."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner
from sqlmodel import Session

from models import Alert
from risk_helpers import build_register, stop_schedulers, store  # noqa: F401
from triage.cli import main
from triage.risk.quality_board import build, sparkline, to_csv, to_html
from triage.services import Services


@pytest.fixture
def services(engine, settings_factory):
    return Services(settings=settings_factory(), engine=engine)


@pytest.fixture
def history(session, services, frozen_clock):
    """Ten weeks ago A had one medium concern; this week it turned red."""
    build_register(session)
    frozen_clock.advance(weeks=-10)
    store(session, services, locations=["A"], urgency="medium")
    frozen_clock.advance(weeks=10)
    store(session, services, locations=["A"], urgency="immediate", safeguarding=["physical"], sender="a@x.org")
    frozen_clock.advance(hours=1)
    store(session, services, locations=["A"], urgency="high", sender="b@x.org")
    store(session, services, locations=["D"], urgency="high", sender="c@x.org")
    return session


def test_quality_board_content(history, services):
    rep = build(session=history, settings=services.settings)
    rows = {r["location_id"]: r for r in rep["rows"]}
    assert set(rows) == {"A", "B", "C", "D"}  # monitored homes; U has no concerns
    assert rep["rows"][0]["location_id"] == "A" and rows["A"]["rating"] == "red"
    assert len(rows["A"]["trend"]) == 12 and rows["A"]["trend"][0] == 0 and rows["A"]["trend"][5] > 0
    assert rows["A"]["trend"][-1] == rows["A"]["score"]
    assert rows["A"]["suggested_visit"] and any("amber → red" in r for r in rows["A"]["visit_reasons"])
    assert not rows["D"]["suggested_visit"]  # green
    assert rows["B"]["flags"] and not rows["B"]["suggested_visit"]
    html = to_html(rep)
    assert html.count("<svg") == 4 and "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert "Suggested monitoring visits" in html and "Alder House" in html
    parsed = list(csv.DictReader(io.StringIO(to_csv(rep))))
    a = next(r for r in parsed if r["location_id"] == "A")
    assert a["rating"] == "red" and a["suggested_visit"] == "yes" and len(a["trend_12_weeks"].split()) == 12
    assert "concern CC-" in a["top_factors"]


def test_sparkline_draws_every_point():
    svg = sparkline([0, 10, 60], amber=25, red=50)
    pts = re.search(r'points="([^"]+)"', svg).group(1).split()
    assert len(pts) == 3 and "#c62828" in svg  # ends red


@pytest.fixture
def cli_env(engine, history, monkeypatch, settings_factory):
    settings_factory()  # clears TRIAGE_* from the environment
    monkeypatch.setenv("TRIAGE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    from triage.config import reset_settings_cache
    reset_settings_cache()
    yield CliRunner()
    reset_settings_cache()


def test_cli_risk_formats(cli_env):
    r = cli_env.invoke(main, ["risk", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert rows[0]["location_id"] == "A" and rows[0]["rating"] == "red" and rows[0]["factors"]
    r = cli_env.invoke(main, ["risk", "--format", "csv", "--officer", "QMO2"])
    assert r.exit_code == 0
    got = list(csv.DictReader(io.StringIO(r.output)))
    assert sorted(x["location_id"] for x in got) == ["C", "D"]
    r = cli_env.invoke(main, ["risk"])
    assert r.exit_code == 0 and "Alder" in r.output and "RED" in r.output


def test_cli_explain(cli_env):
    r = cli_env.invoke(main, ["risk", "explain", "Alder House"])
    assert r.exit_code == 0, r.output
    assert "RED" in r.output and "immediate urgency 30" in r.output and "total" in r.output
    r = cli_env.invoke(main, ["risk", "explain", "A", "--format", "json"])
    card = json.loads(r.output)
    assert sum(f["points"] for f in card["factors"]) == pytest.approx(card["score"], abs=0.2)
    assert all("text" not in c for c in card["recent_concerns"])
    r = cli_env.invoke(main, ["risk", "explain", "Nowhere At All"])
    assert r.exit_code != 0 and "no location" in r.output


def test_cli_alerts_list_and_ack(cli_env, engine):
    r = cli_env.invoke(main, ["alerts", "list", "--officer", "QMO1", "--format", "json"])
    assert r.exit_code == 0, r.output
    alerts = [a for a in json.loads(r.output) if a["kind"] == "concern" and a["urgency"] == "immediate"]
    assert alerts and alerts[0]["escalates_at"]
    r = cli_env.invoke(main, ["alerts", "ack", str(alerts[0]["id"])])
    assert r.exit_code == 0, r.output
    with Session(engine) as s:
        a = s.get(Alert, alerts[0]["id"])
        assert a.status == "acknowledged" and a.acknowledged_by.startswith("cli:") and a.escalates_at is None
    r = cli_env.invoke(main, ["alerts", "ack", "999999"])
    assert r.exit_code != 0


def test_cli_report(cli_env, tmp_path):
    out = tmp_path / "board.html"
    r = cli_env.invoke(main, ["report", "quality-board", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text().startswith("<!DOCTYPE html>") and "1 suggested monitoring visits" in r.output
    out2 = tmp_path / "board.csv"
    r = cli_env.invoke(main, ["report", "quality-board", "--out", str(out2), "--format", "csv"])
    assert r.exit_code == 0 and out2.read_text().startswith("location_id,")


def test_cli_rescore(cli_env, frozen_clock):
    frozen_clock.advance(days=60)
    r = cli_env.invoke(main, ["risk", "rescore"])
    assert r.exit_code == 0, r.output
    assert "homes assessed" in r.output
