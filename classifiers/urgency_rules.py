"""Explicit urgency rules: spaCy Matcher patterns that can only raise urgency.

Each rule is named (it appears in the evidence). A hit is dropped when it is negated
("no unexplained bruising"), or when it is historic or resolved: a closing cue in the
same sentence ("the 2024 case was closed"), or in the message when the sentence itself
has no "now" cue. Patterns live in rules/urgency.json, not in code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from spacy.attrs import LOWER, SENT_START
from spacy.matcher import Matcher
from spacy.tokens import Doc

RULES_PATH = Path(__file__).resolve().parent / "rules" / "urgency.json"
LEVELS = ["none", "low", "medium", "high", "immediate"]
RANK = {lvl: i for i, lvl in enumerate(LEVELS)}


@dataclass
class RuleHit:
    rule: str
    level: str
    text: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return {"rule": self.rule, "level": self.level, "text": self.text, "start": self.start, "end": self.end}


def _expand(obj, person: list[str]):
    if isinstance(obj, dict):
        return {k: _expand(v, person) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_expand(v, person) for v in obj]
    if obj == "$person":
        return person
    return obj


def _anchor(pattern: list[dict], person: list[str]) -> str:
    """A regex for one token every match of this pattern must contain ('' when none is found)."""
    for tok in pattern:
        if tok.get("OP") in ("?", "*"):
            continue
        low = tok.get("LOWER")
        if isinstance(low, str):
            return re.escape(low)
        if isinstance(low, dict):
            if "REGEX" in low:
                return low["REGEX"]
            if "IN" in low and low["IN"] is not person:
                return "(?:" + "|".join(re.escape(w) for w in low["IN"]) + ")"
    return ""


def _cue_regex(cues: list[str]) -> re.Pattern:
    return re.compile(r"\b(" + "|".join(re.escape(c) for c in sorted(cues, key=len, reverse=True)) + r")\b", re.I)


class UrgencyRules:
    def __init__(self, vocab, path: Path = RULES_PATH):
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
        self.levels: dict[str, str] = {}
        person = spec.get("person", [])
        # One small Matcher per pattern, run only on sentences holding that pattern's required word:
        # the Matcher's cost is per token and predicate, so this keeps classification fast.
        self.matchers: list[Matcher] = []
        self.max_len: list[int | None] = []
        self.anchors: list[re.Pattern | None] = []
        for rule in spec["rules"]:
            self.levels[rule["name"]] = rule["level"]
            for pattern in _expand(rule["patterns"], person):
                m = Matcher(vocab)
                m.add(rule["name"], [pattern])
                anchor = _anchor(pattern, person)
                self.matchers.append(m)
                # Longest possible match in tokens (None: unbounded, "*"/"+" operators).
                self.max_len.append(None if any(t.get("OP") in ("*", "+") for t in pattern) else len(pattern))
                self.anchors.append(re.compile(anchor, re.I) if anchor else None)
        self.always = [i for i, a in enumerate(self.anchors) if a is None]
        # One pass over a new word to rule out every pattern at once (most words anchor nothing).
        self._any_anchor = re.compile("|".join(f"(?:{a.pattern})" for a in self.anchors if a is not None) or "(?!)",
                                      re.I)
        self._word_cache: dict[int, tuple[int, ...]] = {}
        self.negators = set(spec["negators"])
        self.negation_after = _cue_regex(spec["negation_after"])
        self.historic = _cue_regex(spec["historic_cues"])
        self.now = _cue_regex(spec["now_cues"])

    def __call__(self, doc: Doc) -> list[RuleHit]:
        hits: list[RuleHit] = []
        text = doc._.raw_text if Doc.has_extension("raw_text") and doc._.raw_text else doc.text
        message_historic = bool(self.historic.search(text))
        seen = set()
        # Each pattern runs only on the sentences holding its required word: the Matcher's cost is
        # per token, and most sentences hold no rule's required word at all.
        strings = doc.vocab.strings
        if len(doc) == 0:
            return hits
        keys = doc.to_array(LOWER)
        sent_flags = doc.to_array(SENT_START)
        has_sents = bool(np.any(sent_flags != 0))  # cheaper than doc.has_annotation (a pass in Python)
        starts = np.nonzero(sent_flags == 1)[0].tolist() if has_sents else [0]
        if not starts or starts[0] != 0:
            starts = [0] + starts
        bounds = starts + [len(doc)]
        sent_of = np.searchsorted(np.array(starts), np.arange(len(doc)), side="right") - 1
        # pattern -> token windows to run it on: its whole sentence, or for a pattern of bounded length
        # only the tokens around each occurrence of its required word.
        todo: dict[int, list[tuple[int, int]]] = {i: [(bounds[k], bounds[k + 1]) for k in range(len(starts))]
                                                  for i in self.always}
        uniq, inverse = np.unique(keys, return_inverse=True)
        for k, key in enumerate(uniq.tolist()):
            pats = self._patterns_for(key, strings)
            if not pats:
                continue
            positions = np.nonzero(inverse == k)[0]
            for i in pats:
                wins = todo.setdefault(i, [])
                span_len = self.max_len[i]
                for pos in positions.tolist():
                    si = sent_of[pos]
                    lo, hi = bounds[si], bounds[si + 1]
                    if span_len is not None:
                        lo, hi = max(lo, pos - span_len + 1), min(hi, pos + span_len)
                    wins.append((lo, hi))
        matches = []
        for i in sorted(todo):
            merged: list[list[int]] = []
            for lo, hi in sorted(todo[i]):
                if merged and lo <= merged[-1][1] and sent_of[lo] == sent_of[merged[-1][0]]:
                    merged[-1][1] = max(merged[-1][1], hi)
                else:
                    merged.append([lo, hi])
            for lo, hi in merged:
                matches.extend((mid, s + lo, e + lo) for mid, s, e in self.matchers[i](doc[lo:hi]))
        for match_id, start, end in matches:
            name = doc.vocab.strings[match_id]
            span = doc[start:end]
            sent = span.sent if has_sents else doc[:]
            if self._negated(doc, start, end, sent):
                continue
            if self._historic(sent, message_historic):
                continue
            key = (name, sent.start if has_sents else 0)
            if key in seen:
                continue
            seen.add(key)
            hits.append(RuleHit(name, self.levels[name], span.text, span.start_char, span.end_char))
        return hits

    def _patterns_for(self, key: int, strings) -> tuple[int, ...]:
        """Which patterns this word is the required word of (cached by hash: vocabularies repeat)."""
        hit = self._word_cache.get(key)
        if hit is None:
            word = strings[key]
            if not self._any_anchor.fullmatch(word):
                hit = ()
            else:
                hit = tuple(i for i, a in enumerate(self.anchors) if a is not None and a.fullmatch(word))
            if len(self._word_cache) < 200_000:
                self._word_cache[key] = hit
        return hit

    def _negated(self, doc: Doc, start: int, end: int, sent) -> bool:
        lo = max(sent.start, start - 4)
        for tok in doc[lo:start]:
            if tok.lower_ in self.negators:
                return True
        # Long patterns: "outbreak ... no hospital admissions" is negated at its last word.
        if end - start > 3:
            for tok in doc[max(start + 1, end - 4):end - 1]:
                if tok.lower_ in self.negators:
                    return True
        after = doc[end:min(sent.end, end + 6)].text
        return bool(self.negation_after.search(after))

    def _historic(self, sent, message_historic: bool) -> bool:
        text = sent.text
        if self.historic.search(text):
            return True
        return message_historic and not self.now.search(text)


def max_level(levels) -> str:
    levels = list(levels)
    return max(levels, key=lambda lv: RANK[lv]) if levels else "none"
