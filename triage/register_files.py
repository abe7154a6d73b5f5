"""Pure parsers for the register files: the public CQC directory and the council's three CSVs.

Each parser reads a whole file and either returns every row or raises RegisterFileError
naming the file, row and column, so a malformed file is rejected whole.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Sequence

DIRECTORY_COLUMNS = [
    "Name", "Also known as", "Address", "Postcode", "Phone number", "Service's website (if available)",
    "Service types", "Date of latest check", "Specialisms/services", "Provider name", "Local Authority",
    "Region", "Location URL", "CQC Location (for office use only)", "CQC Provider ID (for office use only)",
]
DIRECTORY_PREAMBLE_LINES = 4
RATINGS_COLUMNS = ["Location ID", "Location Name", "Key Question", "Latest Rating", "Publication Date"]
OFFICERS_COLUMNS = ["officer_id", "name", "email", "slack_user_id", "role", "manager_id"]
PORTFOLIO_COLUMNS = ["location_id", "officer_id", "council_funded_residents", "beds", "contract_status",
                     "registered_manager", "manager_changed_on", "financial_risk"]

KEY_QUESTIONS = {"overall": "overall", "safe": "safe", "effective": "effective", "caring": "caring",
                 "responsive": "responsive", "well-led": "well-led", "well led": "well-led"}
RATINGS = {"outstanding": "Outstanding", "good": "Good", "requires improvement": "Requires improvement",
           "inadequate": "Inadequate"}
ROLES = {"qmo", "manager", "safeguarding_lead", "duty"}
CONTRACT = {"active", "suspended", "none"}
MANAGER = {"in_post", "vacant", "acting"}
FIN_RISK = {"low", "medium", "high"}
LOCATION_ID = re.compile(r"^1-\d{6,12}$")
POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$", re.I)


class RegisterFileError(ValueError):
    def __init__(self, file: Path | str, row: int | None, column: str | None, message: str):
        self.file, self.row, self.column, self.message = str(file), row, column, message
        where = f"{self.file}"
        if row is not None:
            where += f", row {row}"
        if column:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}. Nothing from this import was saved; fix the file and run it again.")


@dataclass
class DirectoryRow:
    location_id: str
    provider_id: str
    name: str
    also_known_as: list[str]
    address: str
    postcode: str
    town: str
    phone: str | None
    website: str | None
    service_types: list[str]
    specialisms: list[str]
    provider_name: str
    local_authority: str
    region: str
    location_url: str | None
    last_checked: date | None


@dataclass
class RatingRow:
    location_id: str
    key_question: str
    rating: str
    published_on: date | None


@dataclass
class OfficerRow:
    officer_id: str
    name: str
    email: str
    slack_user_id: str | None
    role: str
    manager_id: str | None


@dataclass
class PortfolioRow:
    location_id: str
    officer_id: str
    council_funded_residents: int | None
    beds: int | None
    contract_status: str
    registered_manager: str | None
    manager_changed_on: date | None
    financial_risk: str | None


@dataclass
class RegisterFiles:
    directory: list[DirectoryRow]
    ratings: list[RatingRow] | None = None
    officers: list[OfficerRow] | None = None
    portfolio: list[PortfolioRow] | None = None
    sources: dict[str, str] = field(default_factory=dict)


def _read_text(path: Path) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise RegisterFileError(path, None, None, f"cannot read the file ({err.strerror})") from None
    for enc in ("utf-8-sig", "cp1252"):  # Excel re-saves CSVs as Windows-1252
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise RegisterFileError(path, None, None, "the file is neither UTF-8 nor Windows-1252 text")


def _rows(path: Path, expected: list[str], skip: int = 0, required_subset: bool = False):
    text = _read_text(path)
    lines = text.splitlines(keepends=True)
    if len(lines) <= skip:
        raise RegisterFileError(path, None, None, f"expected {skip} preamble lines and a header row; the file is too short")
    reader = csv.reader(io.StringIO("".join(lines[skip:])))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise RegisterFileError(path, skip + 1, None, "no header row") from None
    missing = [c for c in expected if c not in header]
    if missing and skip:
        for i, line in enumerate(lines[:skip + 10], start=1):
            cells = next(csv.reader([line]), [])
            if all(c in [x.strip() for x in cells] for c in expected):
                raise RegisterFileError(path, i, None, f"the header is on line {i}, but this layout has {skip} "
                                        f"preamble lines before it (line {skip + 1}); use the file as CQC publishes it")
    if missing:
        raise RegisterFileError(path, skip + 1, missing[0],
                                f"header is missing column(s) {', '.join(repr(m) for m in missing)}; "
                                f"is this the right file and layout?")
    index = {h: i for i, h in enumerate(header)}
    for n, cells in enumerate(reader, start=skip + 2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise RegisterFileError(path, n, None, f"has {len(cells)} cells where the header has {len(header)}")
        yield n, {c: cells[index[c]].strip() for c in expected}


def _required(path, n, row, col) -> str:
    v = row[col]
    if not v:
        raise RegisterFileError(path, n, col, "is empty")
    return v


def _date(path, n, col, value: str, fmts: tuple[str, ...]) -> date | None:
    if not value:
        return None
    for fmt in fmts:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            pass
    raise RegisterFileError(path, n, col, f"'{value}' is not a date ({' or '.join(f.replace('%', '') for f in fmts)})")


def _int(path, n, col, value: str) -> int | None:
    if not value:
        return None
    try:
        v = int(value)
    except ValueError:
        raise RegisterFileError(path, n, col, f"'{value}' is not a whole number") from None
    if v < 0:
        raise RegisterFileError(path, n, col, f"'{value}' is negative")
    return v


def _choice(path, n, col, value: str, allowed: set[str], optional: bool = False) -> str | None:
    v = value.strip().lower()
    if not v and optional:
        return None
    if v not in allowed:
        raise RegisterFileError(path, n, col, f"'{value}' is not one of {', '.join(sorted(allowed))}")
    return v


def _multi(value: str) -> list[str]:
    return [p.strip() for p in value.split("|") if p.strip()]


def town_from_address(address: str) -> str:
    parts = [p.strip() for p in address.split(",") if p.strip()]
    return parts[-1] if len(parts) > 1 else ""


def parse_directory(path: Path) -> list[DirectoryRow]:
    out: list[DirectoryRow] = []
    seen: set[str] = set()
    for n, r in _rows(path, DIRECTORY_COLUMNS, skip=DIRECTORY_PREAMBLE_LINES):
        loc = _required(path, n, r, "CQC Location (for office use only)")
        if not LOCATION_ID.match(loc):
            raise RegisterFileError(path, n, "CQC Location (for office use only)", f"'{loc}' is not a CQC location ID")
        if loc in seen:
            raise RegisterFileError(path, n, "CQC Location (for office use only)", f"location {loc} appears twice")
        seen.add(loc)
        postcode = r["Postcode"].upper()
        if postcode and not POSTCODE.match(postcode):
            raise RegisterFileError(path, n, "Postcode", f"'{postcode}' is not a UK postcode")
        aka = r["Also known as"]
        out.append(DirectoryRow(
            location_id=loc,
            provider_id=_required(path, n, r, "CQC Provider ID (for office use only)"),
            name=_required(path, n, r, "Name"),
            also_known_as=[a.strip() for a in re.split(r"[|;]", aka) if a.strip()],
            address=r["Address"], postcode=postcode, town=town_from_address(r["Address"]),
            phone=r["Phone number"] or None, website=r["Service's website (if available)"] or None,
            service_types=_multi(r["Service types"]), specialisms=_multi(r["Specialisms/services"]),
            provider_name=_required(path, n, r, "Provider name"),
            local_authority=r["Local Authority"], region=r["Region"],
            location_url=r["Location URL"] or None,
            last_checked=_date(path, n, "Date of latest check", r["Date of latest check"], ("%d/%m/%Y", "%Y-%m-%d")),
        ))
    if not out:
        raise RegisterFileError(path, None, None, "holds no locations")
    return out


def parse_ratings(path: Path) -> list[RatingRow]:
    out: list[RatingRow] = []
    seen: set[tuple[str, str]] = set()
    for n, r in _rows(path, RATINGS_COLUMNS):
        loc = _required(path, n, r, "Location ID")
        kq = KEY_QUESTIONS.get(_required(path, n, r, "Key Question").lower())
        if kq is None:
            raise RegisterFileError(path, n, "Key Question", f"'{r['Key Question']}' is not a CQC key question")
        rating = RATINGS.get(_required(path, n, r, "Latest Rating").lower())
        if rating is None:
            raise RegisterFileError(path, n, "Latest Rating", f"'{r['Latest Rating']}' is not a CQC rating")
        if (loc, kq) in seen:
            raise RegisterFileError(path, n, "Key Question", f"a second '{kq}' rating for {loc}")
        seen.add((loc, kq))
        out.append(RatingRow(loc, kq, rating, _date(path, n, "Publication Date", r["Publication Date"], ("%Y-%m-%d", "%d/%m/%Y"))))
    return out


def parse_officers(path: Path) -> list[OfficerRow]:
    out: list[OfficerRow] = []
    for n, r in _rows(path, OFFICERS_COLUMNS):
        email = r["email"]
        if email and "@" not in email:
            raise RegisterFileError(path, n, "email", f"'{email}' is not an email address")
        out.append(OfficerRow(
            officer_id=_required(path, n, r, "officer_id"), name=_required(path, n, r, "name"), email=email,
            slack_user_id=r["slack_user_id"] or None, role=_choice(path, n, "role", r["role"], ROLES),
            manager_id=r["manager_id"] or None,
        ))
    ids = {o.officer_id for o in out}
    for n, o in enumerate(out, start=2):
        if o.manager_id and o.manager_id not in ids:
            raise RegisterFileError(path, n, "manager_id", f"manager '{o.manager_id}' is not an officer in this file")
    return out


def parse_portfolio(path: Path) -> list[PortfolioRow]:
    out: list[PortfolioRow] = []
    seen: set[str] = set()
    for n, r in _rows(path, PORTFOLIO_COLUMNS):
        loc = _required(path, n, r, "location_id")
        if loc in seen:
            raise RegisterFileError(path, n, "location_id", f"location {loc} is in the portfolio twice")
        seen.add(loc)
        out.append(PortfolioRow(
            location_id=loc, officer_id=_required(path, n, r, "officer_id"),
            council_funded_residents=_int(path, n, "council_funded_residents", r["council_funded_residents"]),
            beds=_int(path, n, "beds", r["beds"]),
            contract_status=_choice(path, n, "contract_status", r["contract_status"] or "none", CONTRACT),
            registered_manager=_choice(path, n, "registered_manager", r["registered_manager"], MANAGER, optional=True),
            manager_changed_on=_date(path, n, "manager_changed_on", r["manager_changed_on"], ("%Y-%m-%d", "%d/%m/%Y")),
            financial_risk=_choice(path, n, "financial_risk", r["financial_risk"], FIN_RISK, optional=True),
        ))
    return out


def parse_all(directory: Path, ratings: Path | None = None, officers: Path | None = None,
              portfolio: Path | None = None, local_authorities: Sequence[str] | None = None) -> RegisterFiles:
    """Parse and cross-check every file before anything touches the store.

    `local_authorities`: keep only the directory's locations in these authorities (case-insensitive),
    plus any location in the portfolio (a council also commissions homes across its border). The
    national CQC download lists every location in England; a council wants its own area.
    """
    files = RegisterFiles(directory=parse_directory(directory))
    if portfolio:
        files.portfolio = parse_portfolio(portfolio)
    if local_authorities:
        wanted = {la.strip().lower() for la in local_authorities if la.strip()}
        known = {d.local_authority.strip().lower() for d in files.directory}
        missing = sorted(wanted - known)
        if missing:
            raise RegisterFileError(directory, None, "Local Authority",
                                    f"no location in local authority {', '.join(repr(m) for m in missing)}; "
                                    f"check the spelling against the file's 'Local Authority' column")
        keep = {p.location_id for p in files.portfolio or []}
        files.directory = [d for d in files.directory
                           if d.local_authority.strip().lower() in wanted or d.location_id in keep]
    locs = {d.location_id for d in files.directory}
    if ratings:
        files.ratings = parse_ratings(ratings)
        if local_authorities:
            files.ratings = [r for r in files.ratings if r.location_id in locs]
        for n, r in enumerate(files.ratings, start=2):
            if r.location_id not in locs:
                raise RegisterFileError(ratings, n, "Location ID", f"location {r.location_id} is not in the directory file")
    if officers:
        files.officers = parse_officers(officers)
    if files.portfolio is not None:
        officer_ids = {o.officer_id for o in files.officers} if files.officers is not None else None
        for n, p in enumerate(files.portfolio, start=2):
            if p.location_id not in locs:
                raise RegisterFileError(portfolio, n, "location_id", f"location {p.location_id} is not in the directory file")
            if officer_ids is not None and p.officer_id not in officer_ids:
                raise RegisterFileError(portfolio, n, "officer_id", f"officer '{p.officer_id}' is not in the officers file")
    return files
