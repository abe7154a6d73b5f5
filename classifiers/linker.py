"""Provider linking: which register locations a concern is about.

Order of evidence, strongest first: exact or former name, curated alias or acronym,
misspelling (rapidfuzz ratio on normalised names), organisation name (group-wide),
then a street+town or postcode alone. Look-alike names are told apart by a town, street
or postcode near the mention (or anywhere in the message when nothing is near).
A home named only in passing ("moved here from Elm House") is not linked, and when the
linker cannot tell, it links nothing and reports the candidates it considered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from .register_index import STREET_SUFFIX, Entry, RegisterIndex, Token, find_postcodes, norm_key, tokenize

_BREAK = re.compile(r"[.,;:!?()\[\]\n/|]")
_ABBREV_BEFORE_DOT = {"st", "mr", "mrs", "dr", "ms"}

# Cue words (normalised) just before a mention that make it a passing or contrasting one.
# "admitted from X" is not one: a ward or crew reporting how a resident arrived writes about X.
_PASSING_BEFORE = re.compile(
    r"(\b(moved|moving|transferred|came|come|discharged|relocated)\s+(here\s+|there\s+|to us\s+|over\s+|to [a-z]+\s+|in\s+)?"
    r"(from|out of)\s+(the\s+)?$"
    r"|\b(previously|formerly|originally)\s+(lived\s+|been\s+|resided\s+|stayed\s+|[a-z]+\s+)?(at|in|with)\s+(the\s+)?$"
    r"|\bbefore (that|this|then),?\s+(she|he|they|mum|dad|[a-z]+)\s+(was|were|lived|stayed)\s+(at|in)\s+(the\s+)?$"

    r"|\bused to (live|be|stay|work)\s+(at|in)\s+(the\s+)?$"
    r"|\b(her|his|their) (previous|old|former|last) (home|placement|care home|provider)\s*(was\s+|at\s+|,\s*)?(the\s+)?$"
    r"|\b(unlike|rather than|as opposed to|instead of|confused with|compared (to|with))\s+(at\s+)?(the\s+)?$"
    r"|\b(and|but|is|was|it's|its)?\s*not\s+(at\s+|about\s+|the\s+|to\s+)?(the\s+|our\s+|your\s+|their\s+|that\s+)?$"
    # the second home of a contrast list: "not Meadow View or Meadowview Lodge"
    r"|\bnot\s+(the\s+)?[A-Za-z'\- ]{2,40}\s+(or|nor)\s+(the\s+)?$"
    # a home someone moved from, later in the clause: "moved to Ashcroft in August from The Willows"
    r"|\b(moved|transferred|came|went|discharged|relocated|placed)\b[^.;]{0,60}\bfrom\s+(the\s+)?$"
    # staff lent by another home: "they'll send the manager from Riverside House"
    r"|\b(send|sending|sent|borrow\w*|lend\w*|loan\w*|second\w*)\b[^.;]{0,40}\bfrom\s+(the\s+)?$"
    # a former employer: "the new deputy (ex-Foxglove)"
    r"|\bex-\s*$"
    # a past placement remembered fondly: "we were very happy at the Willows"
    r"|\b(was|were)\s+(very\s+|so\s+|really\s+|always\s+)?(happy|settled|content)\s+(at|with|in)\s+(the\s+)?$"
    r"|\bnot to be confused with\s+(the\s+)?$"
    r"|\bno (concerns?|issues|problems|complaints)( to report| at all| raised)? (about|with|at|re|regarding)\s+(the\s+)?$"
    r"|\bsister (home|service)s?,?\s+(the\s+)?$)",
    re.I,
)
_PASSING_AFTER = re.compile(
    r"^[^.]{0,40}?(which|where|who|they|it)\s+(was|were|had been|are|is)\s+(always\s+|so\s+|really\s+|very\s+)?"
    r"(lovely|great|fine|good|excellent|brilliant|much better|fantastic|wonderful|very good)"
    r"|^\s*,?\s*(before|previously|years ago|in the past)\b"
    r"|^[^.]{0,40}\b(is|are|was|were) not (involved|affected|part of|the subject|inspected|included|implicated|concerned)"
    r"|^\s*(by mistake|in error)"
    r"|^\s*(were|was|had been|are|is)\s+(always\s+|so\s+|really\s+|very\s+)?(lovely|great|brilliant|excellent|wonderful|fantastic|very good)\b"
    r"|^[^.]{0,40}\bwhich has (no|had no) (cases|concerns|issues)",
    re.I,
)
_GROUP_CUE = re.compile(
    r"\b(all|every|each|across|group[- ]wide|company[- ]wide|organisation[- ]wide|provider[- ]wide|"
    r"all of|throughout|whole|entire|all their|all its)\b",
    re.I,
)
# Anywhere in the message: the whole group is the subject even when some homes are named.
_GROUP_STRONG = re.compile(
    r"\b(all|each|every|across)\b[^.\n]{0,30}\b(homes|services|locations|branches|sites|schemes|settings)\b"
    r"|\b(all|both|three|four|five|six|seven|eight|nine|ten|\d+)\s+(of\s+)?(our|their|its|the group'?s?)\s+"
    r"(care\s+)?(homes|services|locations|branches|sites|schemes)\b"
    r"|\bacross the (group|organisation|company|provider)\b"
    r"|\b(both|the two|all (the )?\w+) (branches|homes|services|sites|locations)\b"
    r"|\b(group|company|organisation|provider)[- ]wide\b",
    re.I,
)
# The sender says the provider is not at fault: it is only reporting (GUIDE settled case).
_NOT_ABOUT_PROVIDER = re.compile(
    r"\bnot (a|an) (provider|service|care|quality) concern"
    r"|\bnot (a concern )?about (our|the) (service|care|home|agency|provider|staff)"
    r"|\bnot about (the|our) (service|care|home|agency|provider)"
    r"|\bconcern is (about|with) (him|her|them|the [a-z]+)[^.]{0,15}\bnot (the|our) (home|service|agency|provider|care)"
    r"|\bnot (the|our) (home|service|agency|provider)'?s? (fault|failing)",
    re.I,
)
_UNSURE = re.compile(
    r"\b(not sure|unsure|can'?t tell|cannot tell|don'?t know|do not know|unclear|no idea|didn'?t say|did not say|"
    r"can'?t (link|identify|work out)|cannot (link|identify)|not clear)\b[^.\n]{0,25}\b(which|what|where)\b"
    r"|\bcan'?t link\b|\bcannot link\b|\bwhich one\?",
    re.I,
)
_HOME_WORD = re.compile(
    r"\b(home|house|lodge|nursing|residential|care|service|services|provider|agency|placement|premises|"
    r"the one|scheme|unit|setting)\b",
    re.I,
)
_PRIVATE_ADDRESS = re.compile(r"\b(her|his|their|own|client'?s?|tenant'?s?|my) (flat|house|bungalow|home|address)\b", re.I)


_HOMEISH = {"nursinghome", "residentialhome", "carehome", "home", "house", "nursing", "residential", "care", "lodge"}


@dataclass
class Mention:
    start: int
    end: int
    text: str
    method: str
    entries: list[Entry]
    score: float = 100.0


@dataclass
class LinkResult:
    providers: list[str] = field(default_factory=list)
    confidence: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, list[dict]] = field(default_factory=dict)
    candidates: list[dict] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # linked name spans, for masking


_METHOD_CONF = {"name": 0.97, "former": 0.95, "alias": 0.93, "acronym": 0.9, "head": 0.88, "fuzzy": 0.82,
                "org": 0.85, "org_head": 0.8, "postcode": 0.92, "address": 0.85, "sender": 0.6}


class ProviderLinker:
    def __init__(self, config: dict | None = None):
        cfg = config or {}
        self.fuzzy_cutoff = float(cfg.get("fuzzy_cutoff", 88))
        self.fuzzy_min_len = int(cfg.get("fuzzy_min_len", 7))
        self.context_window = int(cfg.get("context_window", 90))
        self.use_sender_domain = bool(cfg.get("use_sender_domain", True))

    # ------------------------------------------------------------------ matching
    def _ngrams_ok(self, toks: list[Token], i: int, n: int) -> bool:
        for k in range(i + 1, i + n):
            gap = toks[k].gap
            if _BREAK.search(gap):
                if "." in gap and toks[k - 1].norm in _ABBREV_BEFORE_DOT and not _BREAK.search(gap.replace(".", "")):
                    continue
                return False
        return True

    def find_mentions(self, text: str, index: RegisterIndex) -> tuple[list[Mention], list[Token], list[bool]]:
        toks = tokenize(text)
        covered = [False] * len(toks)
        mentions: list[Mention] = []
        lowercase_style = sum(1 for t in toks if t.text[:1].isupper()) < 0.12 * max(1, len(toks))
        i = 0
        maxn = index.max_key_tokens
        prefixes = index.prefixes
        while i < len(toks):
            found = None
            key = ""
            # Grow the key token by token while it can still become a name; keep the longest hit.
            for n in range(1, min(maxn, len(toks) - i) + 1):
                if n > 1 and not self._ngrams_ok(toks, i + n - 2, 2):
                    break
                key += toks[i + n - 1].norm
                if key not in prefixes:
                    break
                entries = index.keys.get(key)
                if entries:
                    entries = self._filter_entries(entries, toks, i, n, lowercase_style)
                    if entries:
                        found = (n, entries)
            if found is None and toks[i].text in index.acronyms:
                found = (1, list(index.acronyms[toks[i].text]))
            if found:
                n, entries = found
                if self._followed_by_street(toks, i + n) and not any(e.kind == "name" for e in entries):
                    i += 1
                    continue
                if n == 1 and not any(e.kind in ("name", "former") for e in entries) \
                        and self._inside_town(toks, i, index):
                    i += 1  # "Parva" in "Ashby Parva" is the town, not Parva Gardens
                    continue
                s, e = toks[i].start, toks[i + n - 1].end
                kinds = {en.kind for en in entries}
                method = next(k for k in ("name", "former", "alias", "acronym", "org", "head", "org_head") if k in kinds)
                mentions.append(Mention(s, e, text[s:e], method, entries))
                for k in range(i, i + n):
                    covered[k] = True
                i += n
                continue
            i += 1
        mentions.extend(self._fuzzy(text, toks, covered, index, lowercase_style))
        return mentions, toks, covered

    @staticmethod
    def _inside_town(toks: list[Token], i: int, index: RegisterIndex) -> bool:
        """Is token i one word of a multi-word town name written out around it?"""
        for length in (2, 3):
            for start in range(max(0, i - length + 1), i + 1):
                window = toks[start:start + length]
                if len(window) == length and "".join(t.norm for t in window) in index.towns:
                    return True
        return False

    @staticmethod
    def _followed_by_street(toks: list[Token], j: int) -> bool:
        return j < len(toks) and toks[j].norm in STREET_SUFFIX and not _BREAK.search(toks[j].gap)

    @staticmethod
    def _filter_entries(entries, toks, i, n, lowercase_style) -> list[Entry]:
        out = []
        first = toks[i].text
        # A one-word short form ("Grange", "woodlands") must look like a name: capitalised, in a
        # lower-case chat message, at the start of a line, or followed by "NH", "home"...
        name_like = (first[:1].isupper() or lowercase_style or i == 0 or "\n" in toks[i].gap
                     or (i + n < len(toks) and toks[i + n].norm in _HOMEISH))
        for e in entries:
            if e.kind in ("head", "org_head", "alias") and n == 1 and not name_like:
                continue
            out.append(e)
        # Prefer the strongest kind when one key means several things.
        rank = {"name": 0, "former": 0, "alias": 1, "org": 1, "head": 2, "org_head": 3}
        if out:
            best = min(rank.get(e.kind, 5) for e in out)
            # keep all location entries of the best kind, plus organisation entries (group-wide reading)
            out = [e for e in out if rank.get(e.kind, 5) == best or (e.kind.startswith("org") and best >= 1)]
        return out

    def _fuzzy(self, text: str, toks: list[Token], covered: list[bool], index: RegisterIndex,
               lowercase_style: bool = False) -> list[Mention]:
        out: list[Mention] = []
        i = 0
        while i < len(toks):
            if covered[i] or not toks[i].text[:1].isalpha() or not (toks[i].text[:1].isupper() or lowercase_style):
                i += 1
                continue
            best = None
            for n in (3, 2, 1):
                if i + n > len(toks) or any(covered[i:i + n]) or not self._ngrams_ok(toks, i, n):
                    continue
                q = "".join(t.norm for t in toks[i:i + n])
                if len(q) < (8 if n == 1 else self.fuzzy_min_len) or self._followed_by_street(toks, i + n):
                    continue
                # The same capitalised words recur in every message ("Mrs Smith", "The Home"): cache
                # the look-up on the register index, so a new register starts afresh.
                cache = index.__dict__.setdefault("_fuzzy_cache", {})
                ck = (q, self.fuzzy_cutoff)
                if ck in cache:
                    hit = cache[ck]
                else:
                    choices = index.fuzzy_keys.get(q[0])
                    hit = process.extractOne(q, choices, scorer=fuzz.ratio, score_cutoff=self.fuzzy_cutoff) \
                        if choices else None
                    if len(cache) > 100_000:
                        cache.clear()
                    cache[ck] = hit
                if hit and (best is None or hit[1] > best[2]):
                    best = (n, hit[0], hit[1])
            if best:
                n, key, score = best
                entries = [e for e in index.keys[key] if e.kind in ("name", "former", "alias")]
                s, e = toks[i].start, toks[i + n - 1].end
                out.append(Mention(s, e, text[s:e], "fuzzy", entries, score))
                for k in range(i, i + n):
                    covered[k] = True
                i += n
                continue
            i += 1
        return out

    # ------------------------------------------------------------------ context
    def _context(self, text: str, toks: list[Token], covered: list[bool], index: RegisterIndex):
        towns: list[tuple[str, int]] = []
        streets: list[tuple[str, int, int, str]] = []  # (street key, start, end, number)
        i = 0
        while i < len(toks):
            if covered[i]:
                i += 1
                continue
            hit = False
            key = ""
            best = None
            for n in range(1, 5):
                if i + n > len(toks) or covered[i + n - 1] or (n > 1 and not self._ngrams_ok(toks, i + n - 2, 2)):
                    break
                key += toks[i + n - 1].norm
                if key not in index.ctx_prefixes:
                    break
                if key in index.streets or key in index.towns:
                    best = (n, key)
            if best:
                n, key = best
                if key in index.streets:
                    number = toks[i - 1].text if i > 0 and toks[i - 1].text[:1].isdigit() else ""
                    streets.append((key, toks[i].start, toks[i + n - 1].end, number))
                else:
                    towns.append((index.towns[key], toks[i].start))
                i += n
                hit = True
            if not hit:
                i += 1
        postcodes = find_postcodes(text)
        return towns, streets, postcodes

    def _pick(self, cands: list[str], index: RegisterIndex, towns, streets, postcodes, sender_locs: list[str],
              pos: int | None, window: int) -> tuple[str | None, str]:
        """Choose one candidate by postcode, street, town or sender, near `pos` first, then anywhere."""
        def near(p):
            return pos is None or abs(p - pos) <= window

        for scope in ("near", "any"):
            sel = (lambda p: near(p)) if scope == "near" else (lambda p: True)
            pcs = {pc for pc, s, _ in postcodes if sel(s)}
            m = [c for c in cands if index.locations[c].postcode in pcs]
            if len(m) == 1:
                return m[0], "postcode"
            sts = {(k, num) for k, s, _, num in streets if sel(s)}
            stkeys = {k for k, _ in sts}
            m = [c for c in cands if re.sub(r"\W", "", index.locations[c].street.lower()) in stkeys]
            if len(m) == 1:
                return m[0], "street"
            tws = {t for t, s in towns if sel(s)}
            m2 = [c for c in (m or cands) if index.locations[c].town.lower() in tws]
            if len(m2) == 1:
                return m2[0], "town"
        if sender_locs:
            m = [c for c in cands if c in sender_locs]
            if len(m) == 1:
                return m[0], "sender"
        return None, ""

    def _switch_sibling(self, c0, key, fam, index, towns, streets, postcodes, pos):
        """A look-alike sibling the context near the mention points to, when nothing near points to c0."""
        w = self.context_window
        near_pc = {pc for pc, s, _ in postcodes if abs(s - pos) <= w}
        near_st = {k for k, s, _, _ in streets if abs(s - pos) <= w}
        near_tw = {t for t, s in towns if abs(s - pos) <= w}

        def support(c):
            loc = index.locations[c]
            if loc.postcode in near_pc:
                return "postcode"
            if re.sub(r"\W", "", loc.street.lower()) in near_st:
                return "street"
            if loc.town.lower() in near_tw:
                return "town"
            return ""

        if support(c0):
            return None
        strong = [(c, support(c)) for c in fam if c != c0 and support(c) in ("postcode", "street")]
        if len(strong) == 1:
            return strong[0]
        same = [(c, support(c)) for c in fam if c != c0 and index.locations[c].base == key and support(c) == "town"]
        if len(same) == 1:
            return same[0]
        return None

    @staticmethod
    def _continues_org(text: str, m: Mention, orgs: list[str], index: RegisterIndex) -> bool:
        here = norm_key(text[m.start:m.start + 60])
        own = len(norm_key(m.text))
        for org in orgs:
            name = norm_key(index.org_names.get(org, ""))
            n = 0
            while n < min(len(name), len(here)) and name[n] == here[n]:
                n += 1
            if n >= own + 4:
                return True
        return False

    def _sender_locations(self, sender: str | None, index: RegisterIndex) -> list[str]:
        if not sender or not self.use_sender_domain:
            return []
        # Senders repeat (the same officers and providers write every week): cached on the register
        # index itself, so a new register (a new index) starts afresh.
        cache = index.__dict__.setdefault("_sender_cache", {})
        key = (self.use_sender_domain, sender)
        if key not in cache:
            if len(cache) > 20_000:
                cache.clear()
            cache[key] = self._sender_locations_uncached(sender, index)
        return list(cache[key])

    def _sender_locations_uncached(self, sender: str, index: RegisterIndex) -> list[str]:
        found = set(index.sender_locations(sender))
        display = sender.split("<")[0].strip().strip('"')
        if display and "@" not in display:
            for m in self.find_mentions(display, index)[0]:
                ents = {e.target for e in m.entries if e.kind in ("name", "former", "alias")}
                if len(ents) == 1:
                    found |= ents
        return sorted(found) if len(found) == 1 else []

    # ------------------------------------------------------------------ linking
    def link(self, text: str, index: RegisterIndex, *, sender: str | None = None, subject_end: int = 0) -> LinkResult:
        res = LinkResult()
        unsure = bool(_UNSURE.search(text))
        group_strong = bool(_GROUP_STRONG.search(text))
        mentions, toks, covered = self.find_mentions(text, index)
        towns, streets, postcodes = self._context(text, toks, covered, index)
        linked: dict[str, list[dict]] = {}
        conf: dict[str, float] = {}
        passing: dict[str, list[dict]] = {}
        ambiguous: list[dict] = []
        org_mentions: list[tuple[Mention, str]] = []

        def add(loc_id, m: Mention, method, c):
            linked.setdefault(loc_id, []).append({"text": m.text, "start": m.start, "end": m.end, "method": method})
            conf[loc_id] = max(conf.get(loc_id, 0.0), c)

        sender_locs = self._sender_locations(sender, index)
        sender_stem = ""
        for m in mentions:
            loc_entries = [e for e in m.entries if not e.kind.startswith("org")]
            orgs = sorted({e.target for e in m.entries if e.kind.startswith("org")})
            before = text[max(0, m.start - 60):m.start]
            before = re.split(r"[.!?\n]\s", before)[-1]
            after = text[m.end:m.end + 80]
            if _PASSING_BEFORE.search(before) or _PASSING_AFTER.search(after):
                for e in loc_entries:
                    passing.setdefault(e.target, []).append({"text": m.text, "start": m.start, "end": m.end,
                                                              "method": m.method})
                continue
            cands = sorted({e.target for e in loc_entries})
            if orgs and cands and m.method == "head" and self._continues_org(text, m, orgs, index):
                # "the Sunrise Living home": the first word of a home's name that runs on into its
                # provider's name is the organisation, not that home.
                cands = []
            if unsure and m.method not in ("name", "former", "alias"):
                if cands:
                    ambiguous.append({"text": m.text, "start": m.start, "end": m.end, "candidates": cands,
                                      "reason": "ambiguous: the message itself says it cannot tell which home"})
                continue
            if orgs and not cands:
                for o in orgs:
                    org_mentions.append((m, o))
                continue
            if not cands:
                continue
            base_conf = _METHOD_CONF.get(m.method, 0.8) * (m.score / 100.0 if m.method == "fuzzy" else 1.0)
            if len(cands) == 1:
                c0 = cands[0]
                key = norm_key(m.text)
                key = key[3:] if key.startswith("the") and len(key) > 3 else key
                # Look-alikes share this exact wording ("Meadow View" vs "Meadow View Ludlow"): a town,
                # street or postcode near the mention may point to the sibling instead.
                fam = index.family_of(c0)
                if len(fam) > 1 and m.method in ("name", "head", "former", "fuzzy") and not unsure:
                    switched = self._switch_sibling(c0, key, fam, index, towns, streets, postcodes, m.start)
                    if switched:
                        add(switched[0], m, f"{m.method}+{switched[1]}", base_conf * 0.95)
                        continue
                add(c0, m, m.method, base_conf)
                continue
            if group_strong and len({index.locations[c].provider_id for c in cands}) == 1:
                for c in index.org_locations.get(index.locations[cands[0]].provider_id, cands):
                    add(c, m, f"{m.method}+group", base_conf * 0.9)
                continue
            if unsure:
                ambiguous.append({"text": m.text, "start": m.start, "end": m.end, "candidates": cands,
                                  "reason": "ambiguous: the message itself says it cannot tell which home"})
                continue
            wide = sorted({f for c in cands for f in index.family_of(c)} | set(cands))
            pick, how = self._pick(cands, index, towns, streets, postcodes, sender_locs, m.start, self.context_window)
            if pick is None and wide != cands:
                pick, how = self._pick(wide, index, towns, streets, postcodes, sender_locs, m.start,
                                       self.context_window)
            if pick:
                add(pick, m, f"{m.method}+{how}", base_conf * 0.92)
            else:
                ambiguous.append({"text": m.text, "start": m.start, "end": m.end, "candidates": cands,
                                  "reason": "ambiguous: several register locations share this name and nothing "
                                            "in the message tells them apart"})

        # An ambiguous short form ("Brookvale") that a full name elsewhere already resolved is no longer ambiguous.
        still_ambiguous = []
        for a in ambiguous:
            if any(c in linked for c in a["candidates"]):
                for c in a["candidates"]:
                    if c in linked:
                        linked[c].append({"text": a["text"], "start": a["start"], "end": a["end"], "method": "coref"})
                continue
            still_ambiguous.append(a)

        # Organisation names: group-wide ("all Brookvale Care Group homes") expands to its locations;
        # "Bluebell Homecare (the Bromsgrove branch)" picks the branch; naming the provider of a home
        # already linked adds nothing.
        for m, org in org_mentions:
            locs = index.org_locations.get(org, [])
            if not locs:
                continue
            window = text[max(0, m.start - 60):m.end + 60]
            if len(locs) == 1:
                add(locs[0], m, "organisation", _METHOD_CONF["org"])
                continue
            if group_strong or _GROUP_CUE.search(window):
                for loc_id in locs:
                    add(loc_id, m, "organisation", _METHOD_CONF["org"])
                continue
            if any(l in linked or l in passing for l in locs):
                continue
            # Branches named by town ("Bluebell Homecare, the Bromsgrove branch").
            branches = [l for l in locs if index.locations[l].town
                        and index.locations[l].town.lower() in index.locations[l].name.lower()]
            pick, how = self._pick(branches, index, towns, streets, postcodes, [], m.start, self.context_window) \
                if branches else (None, "")
            if pick:
                add(pick, m, f"organisation+{how}", _METHOD_CONF["org_head"])
                continue
            for loc_id in locs:
                add(loc_id, m, "organisation", _METHOD_CONF["org_head"])

        # Street+town or postcode alone (no name): "the home on Station Road in Redditch".
        if not linked:
            for pc, s, e in postcodes:
                ids = index.postcodes.get(pc, [])
                if len(ids) == 1 and ids[0] not in passing:
                    mm = Mention(s, e, text[s:e], "postcode", [])
                    add(ids[0], mm, "postcode", _METHOD_CONF["postcode"])
            for key, s, e, number in streets:
                ids = index.streets.get(key, [])
                if number:
                    ids_n = [c for c in ids if index.locations[c].number == number]
                    ids = ids_n or ids
                ctx_before = text[max(0, s - 60):s]
                if _PRIVATE_ADDRESS.search(ctx_before):
                    continue
                near_towns = {t for t, p in towns if abs(p - s) <= 60}
                if near_towns:
                    ids = [c for c in ids if index.locations[c].town.lower() in near_towns]
                elif len(ids) > 1:
                    ids = [c for c in ids if index.locations[c].town.lower() in {t for t, _ in towns}]
                if len(ids) != 1:
                    if ids:
                        still_ambiguous.append({"text": text[s:e], "start": s, "end": e, "candidates": sorted(ids),
                                                "reason": "street named without a town or number that identifies one home"})
                    continue
                strong = bool(number and index.locations[ids[0]].number == number)
                if strong or _HOME_WORD.search(ctx_before[-45:]):
                    mm = Mention(s, e, text[s:e], "address", [])
                    add(ids[0], mm, "address", _METHOD_CONF["address"] if strong else 0.75)

        # The message says it cannot tell: links to look-alikes of what it cannot tell apart go too.
        if unsure and still_ambiguous:
            fams = {index.locations[c].family for a in still_ambiguous for c in a["candidates"]}
            for loc_id in list(linked):
                if index.locations[loc_id].family in fams:
                    passing.setdefault(loc_id, []).append(linked.pop(loc_id)[0])

        # A home first brought up in passing or in contrast keeps that role when named again
        # ("moved from The Willows ... we were happy at the Willows").
        for loc_id in list(linked):
            if loc_id not in passing:
                continue
            body_passing = [ev["start"] for ev in passing[loc_id] if ev["start"] >= subject_end]
            body_linked = [ev["start"] for ev in linked[loc_id] if ev["start"] >= subject_end]
            if body_passing and body_linked and min(body_passing) < min(body_linked):
                passing[loc_id].extend(linked.pop(loc_id))

        # Named in the subject line only, and in the body only in passing or in contrast: not the subject.
        for loc_id in list(linked):
            if loc_id in passing and all(ev["start"] < subject_end for ev in linked[loc_id]):
                del linked[loc_id]
        not_about = _NOT_ABOUT_PROVIDER.search(text)
        if not_about:
            for loc_id in list(linked):
                passing.setdefault(loc_id, []).append({**linked[loc_id][0], "reason": "not_about"})
                del linked[loc_id]

        # A provider writing about itself without naming itself: its address says who it is.
        if not linked and not still_ambiguous and not not_about and len(sender_locs) == 1 \
                and sender_locs[0] not in passing:
            linked[sender_locs[0]] = [{"text": sender or "", "start": -1, "end": -1, "method": "sender"}]
            conf[sender_locs[0]] = _METHOD_CONF["sender"]

        for loc_id, ev in passing.items():
            if loc_id not in linked:
                res.candidates.append({"location_id": loc_id, "name": index.locations[loc_id].name,
                                       "text": ev[0]["text"], "start": ev[0]["start"], "end": ev[0]["end"],
                                       "reason": "mentioned in passing or in contrast, not the subject"})
        for a in still_ambiguous:
            for c in a["candidates"]:
                res.candidates.append({"location_id": c, "name": index.locations[c].name, "text": a["text"],
                                       "start": a["start"], "end": a["end"], "reason": a["reason"]})

        res.providers = sorted(linked, key=lambda k: min(ev["start"] for ev in linked[k]))
        res.confidence = {k: round(conf[k], 3) for k in res.providers}
        res.evidence = {k: linked[k] for k in res.providers}
        spans = [(m.start, m.end) for m in mentions]
        res.spans = sorted(set(spans))
        return res
