"""Register parsing (pure) and import into the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import Session, func, select

from models import AuditEvent, CqcRating, Location, Officer, Organisation, PortfolioAssignment
from triage.register_files import RegisterFileError, parse_directory, parse_portfolio, parse_ratings, town_from_address
from triage.register_import import find_locations, import_register

PREAMBLE = "Care Quality Commission directory\nData as at 01 November 2026\nLicence\n\n"
HEADER = ("Name,Also known as,Address,Postcode,Phone number,Service's website (if available),Service types,"
          "Date of latest check,Specialisms/services,Provider name,Local Authority,Region,Location URL,"
          "CQC Location (for office use only),CQC Provider ID (for office use only)\n")


def _dir_row(name="Oak House", loc="1-1000000001", prov="1-200000001", postcode="WR14 1AA", date="01/11/2024"):
    return (f'{name},Old Oak,"1 High Street, Malvern",{postcode},01632 960000,www.x.example.org,'
            f'Residential homes|Nursing homes,{date},Dementia,Oak Care Ltd,Wyvernshire,West Midlands,'
            f'https://www.cqc.org.uk/location/{loc},{loc},{prov}\n')


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _import_all(session, reg: Path, **over):
    files = dict(directory=reg / "cqc_directory.csv", ratings=reg / "ratings.csv",
                 officers=reg / "officers.csv", portfolio=reg / "portfolio.csv")
    files.update(over)
    return import_register(session=session, **files)


# ---- pure parsing ---------------------------------------------------------------------------

def test_directory_parses_preamble_multivalue_and_dates(tmp_path):
    rows = parse_directory(_write(tmp_path, "d.csv", PREAMBLE + HEADER + _dir_row()))
    [r] = rows
    assert r.location_id == "1-1000000001" and r.provider_id == "1-200000001"
    assert r.service_types == ["Residential homes", "Nursing homes"]
    assert r.also_known_as == ["Old Oak"] and r.town == "Malvern"
    assert r.last_checked.isoformat() == "2024-11-01"


@pytest.mark.parametrize("row, column, fragment", [
    (_dir_row(postcode="NOT A CODE"), "Postcode", "not a UK postcode"),
    (_dir_row(loc="ABC"), "CQC Location (for office use only)", "not a CQC location ID"),
    (_dir_row(date="31/02/2024"), "Date of latest check", "not a date"),
])
def test_directory_errors_name_file_row_and_column(tmp_path, row, column, fragment):
    path = _write(tmp_path, "d.csv", PREAMBLE + HEADER + _dir_row(loc="1-1000000009") + row)
    with pytest.raises(RegisterFileError) as exc:
        parse_directory(path)
    err = exc.value
    assert err.row == 7 and err.column == column and fragment in err.message
    assert "d.csv" in str(err) and "row 7" in str(err)


def test_directory_without_preamble_is_rejected_with_header_message(tmp_path):
    rows = "".join(_dir_row(loc=f"1-100000000{i}") for i in range(5))
    with pytest.raises(RegisterFileError, match="the header is on line 1"):
        parse_directory(_write(tmp_path, "d.csv", HEADER + rows))
    with pytest.raises(RegisterFileError, match="header is missing column"):
        parse_directory(_write(tmp_path, "e.csv", PREAMBLE + "Name,Address\n" + rows))


def test_ratings_reject_unknown_rating(tmp_path):
    path = _write(tmp_path, "r.csv", "Location ID,Location Name,Key Question,Latest Rating,Publication Date\n"
                  "1-1000000001,Oak House,Safe,Brilliant,2025-01-01\n")
    with pytest.raises(RegisterFileError) as exc:
        parse_ratings(path)
    assert exc.value.column == "Latest Rating" and exc.value.row == 2


def test_portfolio_rejects_bad_numbers_and_choices(tmp_path):
    head = "location_id,officer_id,council_funded_residents,beds,contract_status,registered_manager,manager_changed_on,financial_risk\n"
    with pytest.raises(RegisterFileError, match="not a whole number"):
        parse_portfolio(_write(tmp_path, "p.csv", head + "1-1000000001,QMO1,lots,40,active,in_post,,low\n"))
    with pytest.raises(RegisterFileError, match="contract_status"):
        parse_portfolio(_write(tmp_path, "p2.csv", head + "1-1000000001,QMO1,3,40,ended,in_post,,low\n"))


def test_town_from_address():
    assert town_from_address("144 Worcester Road, Malvern") == "Malvern"
    assert town_from_address("Unit 3") == ""


# ---- import into the store ---------------------------------------------------------------

def test_shared_register_import_counts_and_idempotent(session, shared_register):
    first = _import_all(session, shared_register)
    assert first.added["locations"] == 84
    assert first.added["organisations"] == 59
    assert first.added["officers"] == 11
    second = _import_all(session, shared_register)
    assert not second.changed
    assert second.unchanged["locations"] == 84 and second.unchanged["ratings"] == first.added["ratings"]
    assert session.exec(select(func.count()).select_from(Location)).one() == 84
    assert session.exec(select(func.count()).select_from(Organisation)).one() == 59
    monitored = session.exec(select(func.count()).select_from(Location).where(Location.monitored)).one()
    assert monitored == 78  # 6 neighbouring-authority homes are linked but not monitored
    qmo = session.get(Officer, "QMO1")
    assert qmo.manager_id == "MGR1"
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "register.imported")).all()


def test_changed_rating_is_kept_as_history(session, shared_register, tmp_path):
    _import_all(session, shared_register)
    text = (shared_register / "ratings.csv").read_text().splitlines()
    head, first = text[0], text[1].split(",")
    loc, kq = first[0], first[2]
    first[3], first[4] = "Inadequate", "2026-11-01"
    changed = _write(tmp_path, "ratings.csv", "\n".join([head, ",".join(first)] + text[2:]) + "\n")
    report = _import_all(session, shared_register, ratings=changed)
    assert report.updated["ratings"] == 1
    assert any("Inadequate" in c for c in report.changes)
    rows = session.exec(select(CqcRating).where(CqcRating.location_id == loc,
                                                CqcRating.key_question == kq.lower())).all()
    assert sorted((r.rating, r.current) for r in rows) == [("Good", False), ("Inadequate", True)] or \
        len([r for r in rows if r.current]) == 1 and len(rows) == 2
    assert not _import_all(session, shared_register, ratings=changed).changed


def test_portfolio_handover_ends_old_assignment(session, shared_register, tmp_path):
    _import_all(session, shared_register)
    lines = (shared_register / "portfolio.csv").read_text().splitlines()
    cells = lines[1].split(",")
    loc, old_officer = cells[0], cells[1]
    cells[1] = "QMO7" if old_officer != "QMO7" else "QMO6"
    moved = _write(tmp_path, "portfolio.csv", "\n".join([lines[0], ",".join(cells)] + lines[2:]) + "\n")
    report = _import_all(session, shared_register, portfolio=moved)
    assert report.updated["assignments"] == 1
    rows = session.exec(select(PortfolioAssignment).where(PortfolioAssignment.location_id == loc)).all()
    assert {(r.officer_id, r.ended_at is None) for r in rows} == {(old_officer, False), (cells[1], True)}


def test_malformed_file_imports_nothing(session, shared_register, tmp_path):
    bad_dir = tmp_path / "reg"
    shutil.copytree(shared_register, bad_dir)
    lines = (bad_dir / "portfolio.csv").read_text().splitlines()
    cells = lines[40].split(",")
    cells[3] = "forty"  # beds
    lines[40] = ",".join(cells)
    (bad_dir / "portfolio.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(RegisterFileError) as exc:
        _import_all(session, bad_dir)
    assert exc.value.row == 41 and exc.value.column == "beds"
    assert session.exec(select(func.count()).select_from(Location)).one() == 0
    assert session.exec(select(func.count()).select_from(Officer)).one() == 0


def test_find_locations_by_id_name_former_name_and_fuzzy(session, shared_register):
    _import_all(session, shared_register)
    assert [l.name for l in find_locations(session=session, query="1-2843524734")] == ["Mulberry Court"]
    assert [l.name for l in find_locations(session=session, query="Laurels Nursing Home")] == ["Mulberry Court"]
    assert len(find_locations(session=session, query="The Willows")) == 2  # Malvern and Redditch
    assert find_locations(session=session, query="Mulbery Court")[0].name == "Mulberry Court"


def test_cli_import_reports_and_rejects(shared_register, tmp_path, monkeypatch, settings_factory):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    runner = CliRunner()
    from triage.cli import main
    args = ["register", "import", "--directory", str(shared_register / "cqc_directory.csv"),
            "--ratings", str(shared_register / "ratings.csv"), "--officers", str(shared_register / "officers.csv"),
            "--portfolio", str(shared_register / "portfolio.csv")]
    out = runner.invoke(main, args)
    assert out.exit_code == 0, out.output
    assert "84" in out.output and "59" in out.output
    again = runner.invoke(main, args)
    assert again.exit_code == 0 and "No changes." in again.output
    shown = runner.invoke(main, ["register", "show", "Mulberry Court"])
    assert shown.exit_code == 0 and "Laurels Nursing Home" in shown.output
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,register\n")
    rejected = runner.invoke(main, ["register", "import", "--directory", str(bad)])
    assert rejected.exit_code != 0 and "bad.csv" in rejected.output and "Nothing from this import was saved" in rejected.output


def test_shipped_demo_register_imports(session, demo_register):
    report = _import_all(session, demo_register)
    assert report.added["locations"] == 30 and report.added["organisations"] == 20 and report.added["officers"] == 8
    assert not _import_all(session, demo_register).changed


def test_cli_import_keeps_only_the_chosen_local_authorities(shared_register, tmp_path, monkeypatch):
    """The national CQC download lists all of England: a council keeps its own area (and neighbours)."""
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{tmp_path}/la.db")
    from triage.cli import main
    from triage.db import make_engine

    runner = CliRunner()
    base = ["register", "import", "--directory", str(shared_register / "cqc_directory.csv"),
            "--ratings", str(shared_register / "ratings.csv"), "--officers", str(shared_register / "officers.csv"),
            "--portfolio", str(shared_register / "portfolio.csv")]
    typo = runner.invoke(main, base + ["--local-authority", "Wyvernshir"])
    assert typo.exit_code != 0 and "'wyvernshir'" in typo.output and "Local Authority" in typo.output
    out = runner.invoke(main, base + ["--local-authority", "wyvernshire", "--local-authority", "Shropshire"])
    assert out.exit_code == 0, out.output
    with Session(make_engine(f"sqlite:///{tmp_path}/la.db")) as s:
        las = s.exec(select(Location.local_authority)).all()
        assert sorted(set(las)) == ["Shropshire", "Wyvernshire"] and len(las) == 81
        # Ratings of the homes left out were skipped, not rejected.
        assert s.exec(select(func.count()).select_from(CqcRating)).one() > 0
