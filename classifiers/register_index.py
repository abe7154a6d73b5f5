"""A lookup index over the provider register, built from the store (or from plain rows).

Keys are normalised token strings with spaces removed, so "Meadowview", "Meadow View"
and "meadow-view" meet; each key lists the locations (or organisations) it may mean and
how (exact name, former name, curated alias, acronym, shortened head). Look-alike
"families" (The Willows x3, Meadow View x2, Oak House x2...) are kept so the linker can
use town, street or postcode to choose between members.

The index is cheap to build (milliseconds for hundreds of locations) and cached per
store with a fingerprint (row counts + latest updated_at), so linking follows register
changes without retraining.
"""

from __future__ import annotations

import csv
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

ALIAS_DIR = Path(__file__).resolve().parent / "aliases"

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*|&")
_POSTCODE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})\b", re.I)

# Trailing words that say "a care service" rather than which one.
GENERIC_TAIL = [
    "care home", "nursing home", "residential home", "rest home", "residential care home", "care centre",
    "supported living", "home care", "homecare", "home support", "extra care", "community support",
    "domiciliary services", "care at home", "care services", "care", "home", "homes", "house", "lodge",
    "court", "manor", "centre", "gardens", "services", "support", "residential",
]
ORG_SUFFIX = ["ltd", "limited", "plc", "cic", "llp", "group", "partnership", "trust", "care", "healthcare",
              "homes", "living", "services", "support", "housing", "and", "nursing", "residential", "care"]
STREET_SUFFIX = {"road", "street", "lane", "way", "close", "avenue", "crescent", "drive",
                 "hollow", "grove", "place", "terrace", "walk", "square"}
# Abbreviations that are care jargon, never a home.
JARGON = {"RM", "DOLS", "MAR", "SALT", "PU", "UTI", "CQC", "QA", "GP", "ICB", "NHS", "MCA", "CHC", "DN", "SW",
          "PEG", "NEWS", "DNACPR", "HR", "IPC", "RGN", "CNS", "PBS", "LPS", "LA", "AKI", "ASC", "OT", "PT",
          "QMO", "SAR", "FYI", "ASAP", "RE", "FW", "FWD", "ID", "UK", "MDS_NOT", "EMI", "CCTV", "DBS", "PPE",
          "PRN", "HCA", "SI", "IT", "AM", "PM", "OOH", "MASH", "POA", "LPA", "IMCA", "CPN", "CMHT", "MP", "HW",
          "PCC", "CCG", "MDT", "ED", "AE", "A&E", "OK", "TV", "WC", "CPR", "ABC", "SOS", "RH", "NH", "CH", "DS", "DC",
          "PC", "MH", "LD", "OD", "BP", "RN", "SU", "HW", "AM", "PM", "NOK", "DOB", "NFA", "TBC", "RCA"}
COMMON_WORDS = {"grange", "hillside", "willows", "orchards", "cedars", "beechwood", "woodlands", "pathways",
                "horizons", "sunrise", "bluebell", "riverside", "heartlands", "kingfisher", "highfield"}


_WORD_NORMS = {"&": "and", "saint": "st", "nh": "nursinghome", "rh": "residentialhome", "res": "residential",
               "hse": "house", "ct": "court", "sl": "supportedliving", "rd": "road", "ln": "lane", "ave": "avenue"}


_NORM_CACHE: dict[str, str] = {}


def norm_word(w: str) -> str:
    hit = _NORM_CACHE.get(w)
    if hit is None:
        low = w.lower().replace("’", "'").replace("'", "")
        hit = _WORD_NORMS.get(low, low)
        if len(_NORM_CACHE) < 200_000:
            _NORM_CACHE[w] = hit
    return hit


@dataclass(slots=True)
class Token:
    norm: str
    start: int
    end: int
    text: str
    gap: str  # the characters between the previous token and this one


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    prev_end = 0
    for m in _TOKEN.finditer(text):
        out.append(Token(norm_word(m.group()), m.start(), m.end(), m.group(), text[prev_end:m.start()]))
        prev_end = m.end()
    return out


def norm_tokens(s: str) -> list[str]:
    return [t.norm for t in tokenize(s)]


def norm_key(s: str) -> str:
    return "".join(norm_tokens(s))


def base_key(name: str, town: str) -> str:
    toks = norm_tokens(name)
    if toks and toks[0] == "the" and len(toks) > 1:
        toks = toks[1:]
    town_t = norm_tokens(town) if town else []
    if town_t and len(toks) > len(town_t) and toks[-len(town_t):] == town_t:
        toks = toks[:-len(town_t)]
    return "".join(toks)


def norm_postcode(s: str) -> str:
    return re.sub(r"\s+", "", s or "").upper()


def _strip_tail(tokens: list[str], tails: Iterable[str]) -> list[str]:
    tails_t = sorted((t.split() for t in tails), key=len, reverse=True)
    changed = True
    while changed and len(tokens) > 1:
        changed = False
        for tail in tails_t:
            if len(tokens) > len(tail) and tokens[-len(tail):] == tail:
                tokens = tokens[:-len(tail)]
                changed = True
                break
    return tokens


@dataclass(frozen=True)
class Entry:
    kind: str  # name | former | alias | acronym | head | org | org_head
    target: str  # location_id, or provider_id for org kinds


@dataclass
class LocationInfo:
    location_id: str
    provider_id: str
    name: str
    also_known_as: list[str]
    address: str
    postcode: str
    town: str
    provider_name: str = ""
    website: str = ""
    street: str = ""
    number: str = ""
    family: str = ""
    base: str = ""  # name without a leading "The" or a trailing town: what a look-alike shares


@dataclass
class RegisterIndex:
    locations: dict[str, LocationInfo]
    org_names: dict[str, str]
    keys: dict[str, list[Entry]] = field(default_factory=dict)
    acronyms: dict[str, list[Entry]] = field(default_factory=dict)
    families: dict[str, list[str]] = field(default_factory=dict)
    towns: dict[str, str] = field(default_factory=dict)  # normalised key -> canonical town (lower)
    streets: dict[str, list[str]] = field(default_factory=dict)  # street key -> location ids
    postcodes: dict[str, list[str]] = field(default_factory=dict)
    domains: dict[str, list[str]] = field(default_factory=dict)  # website stem -> location ids
    org_locations: dict[str, list[str]] = field(default_factory=dict)
    fuzzy_keys: dict[str, list[str]] = field(default_factory=dict)  # first letter -> keys
    prefixes: set[str] = field(default_factory=set)  # every leading substring of a name key
    ctx_prefixes: set[str] = field(default_factory=set)  # same for town and street keys
    max_key_tokens: int = 1
    fingerprint: str = ""

    # ------------------------------------------------------------------ building
    @classmethod
    def from_locations(cls, rows: Iterable[dict], *, org_names: dict[str, str] | None = None,
                       alias_dir: Path | None = ALIAS_DIR, fingerprint: str = "") -> "RegisterIndex":
        """Rows with location_id, provider_id, name, also_known_as (list or '|' string), address,
        postcode, town (optional), provider_name (optional), website (optional)."""
        locs: dict[str, LocationInfo] = {}
        orgs: dict[str, str] = dict(org_names or {})
        for r in rows:
            aka = r.get("also_known_as") or []
            if isinstance(aka, str):
                aka = [a.strip() for a in re.split(r"[|;]", aka) if a.strip()]
            address = r.get("address") or ""
            town = r.get("town") or (address.split(",")[-1].strip() if "," in address else "")
            info = LocationInfo(
                location_id=r["location_id"], provider_id=r.get("provider_id") or r["location_id"],
                name=r["name"], also_known_as=list(aka), address=address,
                postcode=norm_postcode(r.get("postcode") or ""), town=town,
                provider_name=r.get("provider_name") or "", website=r.get("website") or "",
            )
            first = address.split(",")[0].strip()
            m = re.match(r"^(\d+[A-Za-z]?)\s+(.*)$", first)
            info.number, info.street = (m.group(1), m.group(2)) if m else ("", first)
            locs[info.location_id] = info
            if info.provider_name:
                orgs.setdefault(info.provider_id, info.provider_name)
        idx = cls(locations=locs, org_names=orgs, fingerprint=fingerprint)
        idx._build(alias_dir)
        return idx

    @classmethod
    def from_cqc_directory(cls, path: Path, **kw) -> "RegisterIndex":
        """Straight from a CQC directory CSV (development and tests without a store)."""
        with open(path, newline="", encoding="utf-8-sig") as fh:
            lines = fh.read().splitlines()
        start = next(i for i, l in enumerate(lines) if l.startswith("Name,"))
        rows = []
        for d in csv.DictReader(lines[start:]):
            rows.append(dict(
                location_id=d["CQC Location (for office use only)"], provider_id=d["CQC Provider ID (for office use only)"],
                name=d["Name"], also_known_as=d["Also known as"], address=d["Address"], postcode=d["Postcode"],
                provider_name=d["Provider name"], website=d.get("Service's website (if available)") or "",
            ))
        return cls.from_locations(rows, **kw)

    def _add(self, key: str, entry: Entry) -> None:
        if not key:
            return
        lst = self.keys.setdefault(key, [])
        if entry not in lst:
            lst.append(entry)

    def _build(self, alias_dir: Path | None) -> None:
        town_words: set[str] = set()
        for loc in self.locations.values():
            if loc.town:
                self._add_town(loc.town)
        for t in self.towns:
            town_words.add(t)
        street_keys = set()
        for loc in self.locations.values():
            if loc.street:
                sk = norm_key(loc.street)
                street_keys.add(sk)
                self.streets.setdefault(sk, []).append(loc.location_id)
            if loc.postcode:
                self.postcodes.setdefault(loc.postcode, []).append(loc.location_id)
            if loc.website:
                stem = re.sub(r"^(https?://)?(www\.)?", "", loc.website.lower()).split(".")[0]
                if stem:
                    self.domains.setdefault(stem, []).append(loc.location_id)
            self.org_locations.setdefault(loc.provider_id, []).append(loc.location_id)

        for loc in self.locations.values():
            names = [(loc.name, "name")] + [(a, "former") for a in loc.also_known_as]
            for name, kind in names:
                toks = norm_tokens(name)
                self._add("".join(toks), Entry(kind, loc.location_id))
                if toks and toks[0] == "the" and len(toks) > 1:
                    self._add("".join(toks[1:]), Entry(kind, loc.location_id))
                self._add_acronym(name, loc.location_id)
                town_key = norm_key(loc.town) if loc.town else ""
                for head in self._heads(toks, loc.town):
                    hk = "".join(head)
                    if head and hk != "".join(toks) and self._head_ok(head, town_words, street_keys):
                        self._add(hk, Entry("head", loc.location_id))
                    # "Bluebell Redditch", "Oak House Redditch": a short form with its own town.
                    if head and town_key and len(hk) >= 4 and not hk.endswith(town_key):
                        self._add(hk + town_key, Entry("head", loc.location_id))
            head = self._head(norm_tokens(loc.name), loc.town)
            loc.family = "".join(head) if head else norm_key(loc.name)
            loc.base = base_key(loc.name, loc.town)
            self.families.setdefault(loc.family, []).append(loc.location_id)

        for pid, oname in self.org_names.items():
            toks = norm_tokens(oname)
            toks = _strip_tail(toks, ["ltd", "limited", "plc", "cic", "llp"])
            if "".join(toks) not in street_keys:
                self._add("".join(toks), Entry("org", pid))
            head = _strip_tail(list(toks), ORG_SUFFIX)
            if head != toks and len("".join(head)) >= 5 and "".join(head) not in town_words \
                    and "".join(head) not in street_keys:
                self._add("".join(head), Entry("org_head", pid))

        if alias_dir is not None and Path(alias_dir).is_dir():
            for path in sorted(Path(alias_dir).glob("*.csv")):
                if path.name == "towns.csv":
                    self._load_town_aliases(path)
                else:
                    self._load_aliases(path)

        self.prefixes = {k[:i] for k in self.keys for i in range(1, len(k) + 1)}
        self.ctx_prefixes = {k[:i] for k in list(self.towns) + list(self.streets) for i in range(1, len(k) + 1)}
        self.max_key_tokens = max((len(norm_tokens(k)) for k in self._all_key_texts()), default=1) + 2
        for key, entries in self.keys.items():
            if len(key) >= 6 and any(e.kind in ("name", "former", "alias") for e in entries):
                self.fuzzy_keys.setdefault(key[0], []).append(key)

    def _all_key_texts(self):
        for loc in self.locations.values():
            yield loc.name
            yield from loc.also_known_as
        yield from self.org_names.values()

    def _add_town(self, town: str) -> None:
        canon = town.lower()
        toks = norm_tokens(town)
        self.towns["".join(toks)] = canon
        if toks and toks[0] == "great" and len(toks) > 1:
            self.towns["".join(toks[1:])] = canon
        if len(toks) > 1 and len(toks[0]) >= 5:  # Stourport-on-Severn -> Stourport, Tenbury Wells -> Tenbury
            self.towns.setdefault(toks[0], canon)
        if toks == ["droitwich"]:
            self.towns["droitwichspa"] = canon

    @staticmethod
    def _head(toks: list[str], town: str) -> list[str]:
        toks = list(toks)
        if toks and toks[0] == "the":
            toks = toks[1:]
        town_t = norm_tokens(town) if town else []
        if town_t and len(toks) > len(town_t) and toks[-len(town_t):] == town_t:
            toks = toks[:-len(town_t)]
        return _strip_tail(toks, GENERIC_TAIL)

    @staticmethod
    def _heads(toks: list[str], town: str) -> list[list[str]]:
        """Every shortening on the way to the head: Heartlands Lodge Supported Living -> Heartlands Lodge -> Heartlands."""
        toks = list(toks)
        if toks and toks[0] == "the":
            toks = toks[1:]
        town_t = norm_tokens(town) if town else []
        if town_t and len(toks) > len(town_t) and toks[-len(town_t):] == town_t:
            toks = toks[:-len(town_t)]
        out = [list(toks)]
        tails = sorted((t.split() for t in GENERIC_TAIL), key=len, reverse=True)
        while len(toks) > 1:
            for tail in tails:
                if len(toks) > len(tail) and toks[-len(tail):] == tail:
                    toks = toks[:-len(tail)]
                    out.append(list(toks))
                    break
            else:
                break
        return out

    @staticmethod
    def _head_ok(head: list[str], town_words: set[str], street_keys: set[str]) -> bool:
        key = "".join(head)
        if len(key) < 5 or key in town_words or key in street_keys:
            return False
        if len(head) == 1 and head[0] in ("care", "home", "house", "court", "lodge", "manor"):
            return False
        return True

    def _add_acronym(self, name: str, loc_id: str) -> None:
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z'’]*", name) if w.lower() not in ("the", "and", "of", "at")]
        forms = [words]
        if len(words) > 3 and words[-1].lower() == "home":  # Droitwich Spa Residential Home -> DSR too
            forms.append(words[:-1])
        town = (self.locations[loc_id].town or "").lower()
        if len(words) > 3 and words[-1].lower() == town:  # Sunrise Supported Living Wyvern -> SSL too
            forms.append(words[:-1])
        for ws in forms:
            if len(ws) < 3:  # two letters ("EH", "PM") mean too many other things
                continue
            acr = "".join(w[0].upper() for w in ws)
            if acr in JARGON:
                continue
            e = Entry("acronym", loc_id)
            lst = self.acronyms.setdefault(acr, [])
            if e not in lst:
                lst.append(e)

    def _load_aliases(self, path: Path) -> None:
        """CSV with columns location (ID or exact register name), alias[, kind]."""
        by_name = {loc.name.lower(): loc.location_id for loc in self.locations.values()}
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                ref = (row.get("location") or "").strip()
                alias = (row.get("alias") or "").strip()
                if not ref or not alias or ref.startswith("#"):
                    continue
                loc_id = ref if ref in self.locations else by_name.get(ref.lower())
                if loc_id is None:
                    continue  # an alias for a home this register does not hold
                if alias.isupper() and " " not in alias and len(alias) <= 6:
                    lst = self.acronyms.setdefault(alias, [])
                    if Entry("acronym", loc_id) not in lst:
                        lst.append(Entry("acronym", loc_id))
                else:
                    self._add(norm_key(alias), Entry("alias", loc_id))

    def _load_town_aliases(self, path: Path) -> None:
        """CSV with columns town (as in the register's addresses), alias (a nickname or short form)."""
        canon = set(self.towns.values())
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                town = (row.get("town") or "").strip().lower()
                alias = (row.get("alias") or "").strip()
                if town in canon and alias:
                    self.towns.setdefault(norm_key(alias), town)

    def sender_locations(self, sender: str | None) -> list[str]:
        """Locations a sender's address points to: its website domain or a name-like domain."""
        if not sender:
            return []
        m = re.search(r"@([A-Za-z0-9-]+)\.", sender)
        if not m:
            return []
        stem = m.group(1).lower().replace("-", "")
        if stem in self.domains:
            return list(self.domains[stem])
        for key in (stem,):
            ents = [e for e in self.keys.get(key, []) if not e.kind.startswith("org")]
            if ents:
                return sorted({e.target for e in ents})
        hits = [fam for fam in self.families if len(fam) >= 6 and stem.startswith(fam)]
        if len(hits) == 1 and len(self.families[hits[0]]) == 1:
            return list(self.families[hits[0]])
        return []

    # ------------------------------------------------------------------ queries
    def family_of(self, loc_id: str) -> list[str]:
        loc = self.locations.get(loc_id)
        return self.families.get(loc.family, [loc_id]) if loc else [loc_id]


# ---------------------------------------------------------------------- store access
_cache_lock = threading.Lock()
_cache: dict[str, RegisterIndex] = {}


def store_fingerprint(session) -> str:
    import sqlalchemy as sa

    from models import Location, Organisation

    loc = session.exec(sa.select(sa.func.count(), sa.func.max(Location.updated_at))).one()
    org = session.exec(sa.select(sa.func.count(), sa.func.max(Organisation.updated_at))).one()
    return f"{loc[0]}|{loc[1]}|{org[0]}|{org[1]}"


def index_from_session(session, *, alias_dir: Path | None = ALIAS_DIR) -> RegisterIndex:
    """The register in the store as an index; rebuilt only when the register has changed."""
    from sqlmodel import select

    from models import Location, Organisation

    bind = session.get_bind()
    cache_key = f"{bind.url!r}|{alias_dir}"
    fp = store_fingerprint(session)
    with _cache_lock:
        hit = _cache.get(cache_key)
        if hit is not None and hit.fingerprint == fp:
            return hit
    orgs = {o.provider_id: o.name for o in session.exec(select(Organisation)).all()}
    rows = [dict(location_id=l.location_id, provider_id=l.provider_id, name=l.name,
                 also_known_as=list(l.also_known_as or []), address=l.address or "", postcode=l.postcode or "",
                 town=l.town or "", provider_name=orgs.get(l.provider_id, ""), website=l.website or "")
            for l in session.exec(select(Location)).all()]
    idx = RegisterIndex.from_locations(rows, org_names=orgs, alias_dir=alias_dir, fingerprint=fp)
    with _cache_lock:
        _cache[cache_key] = idx
    return idx


def find_postcodes(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(1).upper() + m.group(2).upper(), m.start(), m.end()) for m in _POSTCODE.finditer(text)]
