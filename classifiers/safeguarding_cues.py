"""Evidence cues for safeguarding categories (rules/safeguarding.json).

The GUIDE gives a safeguarding category only where abuse or neglect of a person is described
or alleged, so the model's score alone is not enough: each category it outputs must also have
a non-negated cue in the text (the cue span is the evidence an officer sees), unless the model
is very sure. The cue lists encode the Care Act categories in general English and care-sector
usage; they are deliberately broad, because their job is to veto labels with no support at all.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

CUES_PATH = Path(__file__).resolve().parent / "rules" / "safeguarding.json"


class SafeguardingCues:
    def __init__(self, path: Path = CUES_PATH):
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
        self.window = int(spec.get("negation_window", 24))
        negs = sorted(spec["negators"], key=len, reverse=True)
        # A negator shortly before the cue, in the same clause: "no bruising", "no sign of any injury".
        self._neg = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in negs) + r")\b[^.;:!?\n]{0,%d}$" % self.window)
        self.cues = {lab: re.compile(r"\b(?:" + "|".join(pats) + r")\b") for lab, pats in spec["cues"].items()}

    def find(self, text: str, labels=None) -> dict[str, tuple[int, int, str]]:
        """The first non-negated cue span per category: {label: (start, end, text)}."""
        low = text.lower()
        out: dict[str, tuple[int, int, str]] = {}
        for lab, rx in self.cues.items():
            if labels is not None and lab not in labels:
                continue
            for m in rx.finditer(low):
                if self._neg.search(low[max(0, m.start() - self.window - 20):m.start()]):
                    continue
                out[lab] = (m.start(), m.end(), text[m.start():m.end()])
                break
        return out
