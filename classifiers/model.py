"""The classifier: a spaCy pipeline (blank English + our own components) and scikit-learn models.

Per concern:
1. text cleaning (triage.text) unless the caller already cleaned it;
2. spaCy `provider_linker` component: links register locations (names, aliases, misspellings,
   street/town/postcode) and records candidates it rejected;
3. spaCy `urgency_rules` component: named Matcher rules that may raise urgency;
4. TF-IDF (word 1-2 grams with negation marking + char n-grams) on the text with linked home
   names masked, plus care-sector vocabulary columns (lexicon.py, multi-label models only), then
   Platt-scaled linear SVMs: urgency (one per level, with a cross-validated threshold for
   `immediate`) and one per label for domains, topics and safeguarding (per-label thresholds tuned
   on stratified + leave-one-writer-out scores of the training data);
5. decisions: safeguarding categories need an abuse/neglect cue (safeguarding_cues.py) unless the
   model is very sure; domains are those the chosen topics imply (GUIDE mapping) plus the domain
   model's confident picks.

Classification loads the slim artefact (slim.py: numpy arrays and vocabularies, no scikit-learn).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import spacy
from spacy.language import Language
from spacy.tokens import Doc

from triage.text import clean_text

from .data import DOMAINS, SAFEGUARDING, TOPICS, URGENCY
from .linker import LinkResult, ProviderLinker
from .register_index import RegisterIndex, index_from_session
from .lexicon import Lexicon
from .safeguarding_cues import SafeguardingCues
from .urgency_rules import RANK, UrgencyRules

CONFIG_PATH = Path(__file__).resolve().parent / "config.toml"
FIELDS = {"domains": DOMAINS, "topics": TOPICS, "safeguarding": SAFEGUARDING}
# GUIDE settled case: a provider reporting its client's self-neglect or domestic abuse is context.
CONTEXT_ONLY_SAFEGUARDING = {"self_neglect", "domestic"}
# GUIDE section 2's typical mapping: a topic implies its CQC key question (abuse or neglect -> safe).
DOMAIN_OF_TOPIC = {
    "medication": "safe", "falls": "safe", "pressure_care": "safe", "infection_control": "safe",
    "staffing": "safe", "premises_equipment": "safe",
    "nutrition_hydration": "effective", "training_competence": "effective", "mca_dols": "effective",
    "health_access": "effective",
    "dignity_respect": "caring",
    "complaints_communication": "responsive", "end_of_life": "responsive", "activities_wellbeing": "responsive",
    "leadership_governance": "well-led", "financial_viability": "well-led",
}

if not Doc.has_extension("register"):
    Doc.set_extension("register", default=None)
    Doc.set_extension("sender", default=None)
    Doc.set_extension("subject_end", default=0)
    Doc.set_extension("links", default=None)
    Doc.set_extension("urgency_hits", default=[])
if not Doc.has_extension("raw_text"):
    # Doc.text re-joins every token; the components read the string the Doc was made from.
    Doc.set_extension("raw_text", default=None)


_AUTO_REPLY_SUBJECT = re.compile(r"^\s*(automatic reply|auto[- ]?reply|autoreply|out of (the )?office|ooo\b)", re.I)
_OOO_BODY = re.compile(
    r"\b(out of (the )?office|on (annual |parental |sick )?leave|limited access to (my )?e-?mails?|"
    r"(reply|respond|get back to you) (to your e-?mail )?(when|on my return|as soon as)|back in the office|"
    r"not (checking|monitoring) (my )?e-?mails?|for urgent (matters|enquiries|queries)|away from my desk)\b", re.I)


def load_config(path: Path | None = None) -> dict:
    with open(path or CONFIG_PATH, "rb") as fh:
        return tomllib.load(fh)


@Language.factory("provider_linker", requires=["doc._.register", "doc._.sender"], assigns=["doc._.links"],
                  default_config={"fuzzy_cutoff": 88, "fuzzy_min_len": 7, "context_window": 90,
                                  "use_sender_domain": True})
def make_provider_linker(nlp, name, fuzzy_cutoff, fuzzy_min_len, context_window, use_sender_domain):
    linker = ProviderLinker({"fuzzy_cutoff": fuzzy_cutoff, "fuzzy_min_len": fuzzy_min_len,
                             "context_window": context_window, "use_sender_domain": use_sender_domain})

    def provider_linker(doc: Doc) -> Doc:
        index = doc._.register
        doc._.links = linker.link(doc._.raw_text or doc.text, index, sender=doc._.sender, subject_end=doc._.subject_end) \
            if index is not None else LinkResult()
        return doc

    return provider_linker


@Language.factory("urgency_rules", requires=["token.is_sent_start"], assigns=["doc._.urgency_hits"])
def make_urgency_rules(nlp, name):
    rules = UrgencyRules(nlp.vocab)

    def urgency_rules(doc: Doc) -> Doc:
        doc._.urgency_hits = rules(doc)
        return doc

    return urgency_rules


def build_nlp(config: dict) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("provider_linker", config=dict(config.get("linker", {})))
    nlp.add_pipe("urgency_rules")
    return nlp


# ---------------------------------------------------------------------- text for the models
_NEGATOR = re.compile(r"^(no|not|never|without|nor|none|nothing|denies|denied|n't|cannot|isn't|wasn't|aren't|"
                      r"weren't|don't|doesn't|didn't|hasn't|haven't)$")
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?|[.,;:!?\n]")


def marked_tokens(text: str, scope: int, masks: list[tuple[int, int]] = (), mask_token: str = "homename"
                  ) -> list[tuple[str, int, int]]:
    """The words the word model sees, with their offsets in `text`: lower case, negation-marked,
    each masked span (a linked home name) one `mask_token` word, as `masked_text` then
    `negation_marked` would give them. Offsets let evidence point at the words that drove a label."""
    low = text.lower()
    if len(low) != len(text):  # a rare character whose lower case is longer: offsets would drift
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    out: list[tuple[str, int, int]] = []
    left = 0
    for a, b, is_mask in _mask_pieces(len(text), masks):
        toks = [(mask_token, a, b)] if is_mask else \
            [(m.group(), m.start(), m.end()) for m in _WORD.finditer(low, a, b)]
        for tok, s, e in toks:
            if tok in ".,;:!?\n":
                left = 0
                continue
            if left:
                out.append(("neg_" + tok, s, e))
                left -= 1
            else:
                out.append((tok, s, e))
            if _NEGATOR.match(tok):
                left = scope
    return out


def _readable(term: str) -> str:
    return term.replace("neg_", "not ")


def negation_marked(text: str, scope: int) -> str:
    """'no concerns about medication' -> 'no neg_concerns neg_about neg_medication'."""
    return " ".join(t for t, _s, _e in marked_tokens(text, scope))


def _mask_pieces(length: int, spans) -> list[tuple[int, int, bool]]:
    """The text cut at the masked spans, as (start, end, is_mask); a span overlapping an earlier one
    is skipped. Shared by masked_text and marked_tokens so that the two always agree."""
    pieces: list[tuple[int, int, bool]] = []
    pos = 0
    for s, e in sorted(spans):
        if s < pos:
            continue
        pieces.append((pos, s, False))
        pieces.append((s, e, True))
        pos = e
    pieces.append((pos, length, False))
    return pieces


def masked_text(text: str, spans: list[tuple[int, int]], token: str) -> str:
    if not spans:
        return text
    return "".join(f" {token} " if is_mask else text[a:b] for a, b, is_mask in _mask_pieces(len(text), spans))


class LabelModel:
    """A linear SVM for one label with Platt scaling fitted on its cross-validated scores."""

    def __init__(self, svm, a: float, b: float):
        self.svm = svm
        self.a = float(a)
        self.b = float(b)

    @property
    def coef_(self):
        return self.svm.coef_

    def predict_proba(self, X):
        d = self.svm.decision_function(X)
        p = 1.0 / (1.0 + np.exp(-(self.a * d + self.b)))
        return np.column_stack([1 - p, p])


class UrgencyModel:
    """One Platt-scaled linear SVM per urgency level; probabilities normalised across levels."""

    def __init__(self, classes: list[str], models: list[LabelModel]):
        self.classes_ = np.array(classes)
        self.models = models

    @property
    def coef_(self):
        return np.vstack([m.coef_[0] for m in self.models])

    def predict_proba(self, X):
        p = np.column_stack([m.predict_proba(X)[:, 1] for m in self.models])
        return p / np.clip(p.sum(axis=1, keepdims=True), 1e-9, None)


@dataclass
class _Row:
    """One concern's word features (sparse indices and values), without scipy row slicing."""
    indices: np.ndarray
    data: np.ndarray


# ---------------------------------------------------------------------- result
@dataclass
class Classification:
    providers: list[str]
    domains: list[str]
    topics: list[str]
    safeguarding: list[str]
    urgency: str
    confidence: dict
    evidence: dict
    candidates: list[dict]
    model_version: str

    def to_dict(self) -> dict:
        return {"providers": list(self.providers), "domains": list(self.domains), "topics": list(self.topics),
                "safeguarding": list(self.safeguarding), "urgency": self.urgency, "confidence": self.confidence,
                "evidence": self.evidence, "candidates": self.candidates, "model_version": self.model_version}


@dataclass
class Prepared:
    text: str  # subject + cleaned body, as analysed
    subject_len: int
    doc: Doc
    links: LinkResult
    model_text: str
    tokens: list  # marked_tokens of text: the word model's input with offsets
    words: list | None = None  # the words of tokens alone, made when evidence needs them


# ---------------------------------------------------------------------- classifier
@dataclass
class Classifier:
    artefact: dict
    config: dict
    nlp: Language = field(init=False)
    version: str = ""

    def __post_init__(self):
        self.nlp = build_nlp(self.config)
        self.version = self.artefact["version"]
        self.mask_token = self.config["text"]["mask_token"]
        self.scope = int(self.config["text"]["negation_scope"])
        self.max_chars = int(self.config["text"]["max_chars"])
        self._word_names = None
        self.cues = SafeguardingCues()
        self.lexicon = Lexicon(cues=self.cues)
        self._stack_models()

    def _stack_models(self) -> None:
        """All linear models as one weight matrix: one sparse product per batch instead of one per label."""
        a = self.artefact
        if a.get("slim"):
            self._cols = [tuple(c) for c in a["cols"]]
            self._W, self._B, self._PA, self._PB = a["W"], a["B"], a["PA"], a["PB"]
            self._const = {tuple(k): v for k, v in a["const"]}
            return
        if "urgency_model" not in a:
            return
        cols, W, B, PA, PB, const = [], [], [], [], [], {}
        um = a["urgency_model"]
        for cls, m in zip(um.classes_, um.models):
            cols.append(("urgency", str(cls)))
            W.append(m.svm.coef_[0]); B.append(m.svm.intercept_[0]); PA.append(m.a); PB.append(m.b)
        for fld, models in a["label_models"].items():
            for lab, m in models.items():
                if isinstance(m, LabelModel):
                    cols.append((fld, lab))
                    W.append(m.svm.coef_[0]); B.append(m.svm.intercept_[0]); PA.append(m.a); PB.append(m.b)
                else:
                    const[(fld, lab)] = float(m)
        self._cols = cols
        self._W = np.ascontiguousarray(np.vstack(W).T.astype(np.float32))
        self._B = np.array(B, dtype=np.float32)
        self._PA = np.array(PA, dtype=np.float32)
        self._PB = np.array(PB, dtype=np.float32)
        self._const = const

    def _stacked_proba(self, X):
        d = np.asarray(X @ self._W) + self._B
        return 1.0 / (1.0 + np.exp(-(self._PA * d + self._PB)))

    def slim_artefact(self) -> dict:
        """This model as numpy arrays and vocabularies only (see classifiers/slim.py)."""
        from .slim import SlimTfidf

        a = self.artefact
        return {"slim": True, "format": a.get("format"), "version": a["version"], "config": a["config"],
                "thresholds": a["thresholds"], "immediate_threshold": a["immediate_threshold"],
                "lexicon_scale": a.get("lexicon_scale"), "lexicon_weight": a.get("lexicon_weight", 0.0),
                "urgency_classes": [str(c) for c in a["urgency_model"].classes_],
                "word_tfidf": SlimTfidf.from_sklearn(a["word_vec"]), "char_tfidf": SlimTfidf.from_sklearn(a["char_vec"]),
                "cols": [list(c) for c in self._cols], "W": self._W, "B": self._B, "PA": self._PA, "PB": self._PB,
                "const": [(list(k), v) for k, v in self._const.items()]}

    # -------------------------------------------------------------- preparation
    def _register(self, session, register) -> RegisterIndex | None:
        if register is not None:
            return register
        if session is not None:
            return index_from_session(session)
        return None

    def prepare(self, text: str, *, subject: str | None = None, sender: str | None = None, cleaned: bool = False,
                index: RegisterIndex | None = None) -> Prepared:
        body = text if cleaned else clean_text(text)
        body = body[: self.max_chars]
        subj = (subject or "").strip()
        subj = re.sub(r"^((re|fw|fwd|aw)\s*:\s*)+", "", subj, flags=re.I)
        full = f"{subj}\n\n{body}" if subj else body
        subject_len = len(subj) + 2 if subj else 0
        doc = self.nlp.make_doc(full)
        doc._.register = index
        doc._.raw_text = full
        doc._.sender = sender
        doc._.subject_end = subject_len
        for _name, proc in self.nlp.pipeline:
            doc = proc(doc)
        links: LinkResult = doc._.links or LinkResult()
        model_text = masked_text(full, links.spans, self.mask_token)
        # The word model's input with offsets, kept so that evidence can point back into the text.
        tokens = marked_tokens(full, self.scope, links.spans, self.mask_token)
        return Prepared(full, subject_len, doc, links, model_text, tokens)

    def _features(self, model_texts: list[str], word_texts: list[str]):
        """model_texts: names masked (char n-grams, vocabulary); word_texts: the word model's
        negation-marked input, joined from each concern's marked_tokens."""
        from scipy.sparse import csr_matrix, hstack

        a = self.artefact
        if a.get("slim"):
            words = a["word_tfidf"].transform(word_texts)
            chars = a["char_tfidf"].transform(model_texts)
        else:
            words = a["word_vec"].transform(word_texts)
            chars = a["char_vec"].transform([t.lower() for t in model_texts])
        parts = [words, chars]
        if a.get("lexicon_scale") is not None:
            parts.append(csr_matrix(self.lexicon.features(model_texts, a["lexicon_scale"], a["lexicon_weight"])))
        return hstack(parts).tocsr()

    # -------------------------------------------------------------- public API
    def classify(self, text: str, *, subject: str | None = None, sender: str | None = None, session=None,
                 cleaned: bool = False, register: RegisterIndex | None = None) -> Classification:
        return self.classify_batch([{"text": text, "subject": subject, "sender": sender, "cleaned": cleaned}],
                                   session=session, register=register)[0]

    def classify_batch(self, items: Iterable[dict], *, session=None, register: RegisterIndex | None = None
                       ) -> list[Classification]:
        """items: dicts with text and optionally subject, sender, cleaned."""
        index = self._register(session, register)
        prepared = [self.prepare(it["text"], subject=it.get("subject"), sender=it.get("sender"),
                                 cleaned=bool(it.get("cleaned")), index=index) for it in items]
        if not prepared:
            return []
        X = self._features([p.model_text for p in prepared], [" ".join(t for t, _s, _e in p.tokens) for p in prepared])
        a = self.artefact
        P = self._stacked_proba(X)
        classes = list(a["urgency_classes"]) if a.get("slim") else list(a["urgency_model"].classes_)
        ucols = [j for j, (f, _) in enumerate(self._cols) if f == "urgency"]
        urg_proba = P[:, ucols] / np.clip(P[:, ucols].sum(axis=1, keepdims=True), 1e-9, None)
        field_proba = {f: {} for f in FIELDS}
        for j, (f, lab) in enumerate(self._cols):
            if f != "urgency":
                field_proba[f][lab] = P[:, j]
        for (f, lab), v in self._const.items():
            field_proba[f][lab] = np.full(X.shape[0], v)
        n_words = len(self._names())
        X.sort_indices()
        out = []
        for i, p in enumerate(prepared):
            lo, hi = X.indptr[i], X.indptr[i + 1]
            cut = lo + int(np.searchsorted(X.indices[lo:hi], n_words))  # word columns come first
            row = _Row(X.indices[lo:cut], X.data[lo:cut])
            out.append(self._decide(p, row, dict(zip(classes, urg_proba[i])),
                                    {f: {lab: float(arr[i]) for lab, arr in field_proba[f].items()} for f in FIELDS},
                                    index))
        return out

    @staticmethod
    def _proba_matrix(models: dict, X) -> dict:
        return {label: (m.predict_proba(X)[:, 1] if hasattr(m, "predict_proba") else np.full(X.shape[0], m))
                for label, m in models.items()}

    # -------------------------------------------------------------- decisions
    def _decide(self, p: Prepared, x, urg_p: dict, fprob: dict, index) -> Classification:
        a = self.artefact
        cfg = self.config
        hits = p.doc._.urgency_hits or []
        model_level = max(urg_p, key=urg_p.get)
        if urg_p.get("immediate", 0.0) >= a["immediate_threshold"]:
            model_level = "immediate"
        urgency = model_level
        rule_evidence = []
        if not (model_level == "none" and urg_p.get("none", 0) >= cfg["urgency"]["none_guard"]):
            for h in hits:
                rule_evidence.append({"rule": h.rule, "level": h.level, "text": h.text,
                                      **self._span(p, h.start, h.end)})
                if RANK[h.level] > RANK[urgency]:
                    urgency = h.level
        if urgency == "none" and model_level != "none":
            urgency = model_level
        auto = self._auto_reply(p)
        if auto and not any(h.level == "immediate" for h in hits):
            # GUIDE: an out-of-office reply is not a concern, whatever homes or "urgent" it mentions.
            urgency = model_level = "none"
            rule_evidence = [{"rule": "auto_reply", "level": "none", "text": auto.group(0), **self._span(
                p, auto.start(), auto.end())}] if auto.re is _OOO_BODY else \
                [{"rule": "auto_reply", "level": "none", "text": auto.group(0), "field": "subject"}]
        raised = urgency != model_level
        urg_conf = 0.9 if raised else float(urg_p.get(urgency, 0.0))
        terms = self._top_terms(x, "urgency", urgency)
        urg_evidence = [{"model": "tfidf-linear-svm", "text": ", ".join(_readable(t) for t, _w in terms),
                         "p": round(float(urg_p.get(urgency, 0.0)), 3), "spans": self._term_spans(p, terms)}] \
            + rule_evidence

        labels, conf, cue_spans = self._multilabel(p, fprob, urgency)

        links = p.links
        providers = list(links.providers)
        candidates = list(links.candidates)
        if labels["safeguarding"] and set(labels["safeguarding"]) <= CONTEXT_ONLY_SAFEGUARDING and providers \
                and not set(labels["topics"]) - {"complaints_communication", "health_access"}:
            for loc in providers:
                candidates.append({"location_id": loc, "name": index.locations[loc].name if index else loc,
                                   "reason": "provider only reporting a client's situation it is not at fault for"})
            providers = []

        if urgency == "none":
            for loc in providers:
                candidates.append({"location_id": loc, "name": index.locations[loc].name if index else loc,
                                   "reason": "not a concern (urgency none): nothing is linked"})
            providers, labels, conf = [], {f: [] for f in FIELDS}, {f: {} for f in FIELDS}

        evidence = {
            "providers": {loc: [dict(ev, **self._span(p, ev["start"], ev["end"])) for ev in links.evidence.get(loc, [])]
                          for loc in providers},
            "urgency": urg_evidence,
        }
        for fld in FIELDS:
            evidence[fld] = {lab: self._term_spans(p, self._top_terms(x, fld, lab)) for lab in labels[fld]}
        for lab, span in cue_spans.items():
            if lab in labels["safeguarding"]:
                cue = {"text": span[2], **self._span(p, span[0], span[1])}
                evidence["safeguarding"][lab] = [{**cue, "cue": True}] + evidence["safeguarding"][lab]
                evidence.setdefault("safeguarding_cues", {})[lab] = cue
        confidence = {"providers": {loc: links.confidence.get(loc, 0.5) for loc in providers}, **conf,
                      "urgency": round(urg_conf, 3)}
        return Classification(providers=providers, domains=labels["domains"], topics=labels["topics"],
                              safeguarding=labels["safeguarding"], urgency=urgency, confidence=confidence,
                              evidence=evidence, candidates=candidates, model_version=self.version)

    @staticmethod
    def _auto_reply(p: Prepared):
        """An automatic reply: by its subject line, or a short message made of out-of-office phrases."""
        subject = p.text[: max(0, p.subject_len - 2)]
        m = _AUTO_REPLY_SUBJECT.search(subject)
        if m:
            return m
        body = p.text[p.subject_len:]
        if len(body) < 500:
            found = list(_OOO_BODY.finditer(p.text, p.subject_len))
            if len({f.group(0).lower() for f in found}) >= 2:
                return found[0]
        return None

    def _multilabel(self, p: Prepared, fprob: dict, urgency: str):
        """Per-label thresholds, then the GUIDE's structure: secondary topics must be comparable to the
        main one, safeguarding needs a cue for abuse or neglect, domains follow from topics."""
        a = self.artefact
        mcfg = self.config["multilabel"]
        rel = float(mcfg.get("topics_relative_min", 0.0))
        gate_hi = float(mcfg.get("safeguarding_cue_free_min", 2.0))
        dom_min = float(mcfg.get("domains_model_min", 0.0))
        labels: dict[str, list[str]] = {}
        conf: dict[str, dict] = {}
        cue_spans: dict = {}
        for fld in ("topics", "safeguarding", "domains"):
            probs = fprob[fld]
            th = a["thresholds"][fld]
            chosen = [lab for lab, pr in probs.items() if pr >= th.get(lab, 0.5)]
            if fld == "topics" and chosen:
                top = max(probs[lab] for lab in chosen)
                chosen = [lab for lab in chosen if probs[lab] >= rel * top]
            if fld == "safeguarding":
                if chosen:
                    cue_spans = self.cues.find(p.text, set(chosen))
                    chosen = [lab for lab in chosen if lab in cue_spans or probs[lab] >= gate_hi]
                if urgency in ("medium", "none"):
                    # A quality concern for the next monitoring contact rarely alleges abuse or neglect.
                    chosen = [lab for lab in chosen if probs[lab] >= mcfg["safeguarding_medium_min"]]
            if fld == "domains":
                chosen = [lab for lab in chosen if probs[lab] >= dom_min]
                implied = {DOMAIN_OF_TOPIC[t] for t in labels["topics"] if t in DOMAIN_OF_TOPIC}
                if labels["safeguarding"]:
                    implied.add("safe")
                chosen += [d for d in DOMAINS if d in implied and d not in chosen]
            if not chosen and urgency != "none" and fld in mcfg["force_one"]:
                chosen = [max(probs, key=probs.get)]
            chosen.sort(key=lambda lab: -probs[lab])
            labels[fld] = chosen
            conf[fld] = {lab: round(float(probs[lab]), 3) for lab in chosen}
        return {f: labels[f] for f in FIELDS}, {f: conf[f] for f in FIELDS}, cue_spans

    @staticmethod
    def _span(p: Prepared, start: int, end: int) -> dict:
        """Offsets into the cleaned text, or the subject line."""
        if start is None or start < 0:
            return {"start": start, "end": end, "field": "sender"}
        if start < p.subject_len:
            return {"start": start, "end": end, "field": "subject"}
        return {"start": start - p.subject_len, "end": end - p.subject_len, "field": "text"}

    def _names(self):
        if self._word_names is None:
            a = self.artefact
            self._word_names = a["word_tfidf"].feature_names() if a.get("slim") \
                else a["word_vec"].get_feature_names_out()
            self._coef_cache = {}
        return self._word_names

    def _coef(self, fld: str, label: str):
        key = (fld, label)
        if key not in self._coef_cache:
            a = self.artefact
            coef = None
            if a.get("slim"):
                cols = self._cols
                if (fld, label) in cols:
                    coef = self._W[:, cols.index((fld, label))]
            elif fld == "urgency":
                m = a["urgency_model"]
                classes = list(m.classes_)
                if label in classes:
                    coef = m.coef_[classes.index(label)]
            else:
                m = a["label_models"][fld].get(label)
                if m is not None and hasattr(m, "coef_"):
                    coef = m.coef_[0]
            self._coef_cache[key] = None if coef is None else np.asarray(coef)[: len(self._names())]
        return self._coef_cache[key]

    def _top_terms(self, row, fld: str, label: str, k: int = 5) -> list[tuple[str, float]]:
        """The word n-grams in this text that pushed hardest towards this label, with their weight."""
        coef = self._coef(fld, label)
        if coef is None:
            return []
        idx = row.indices
        vals = row.data * coef[idx]
        order = np.argsort(-vals)[:k]
        return [(str(self._names()[idx[j]]), float(vals[j])) for j in order if vals[j] > 0]

    def _term_spans(self, p: Prepared, terms: list[tuple[str, float]], per_term: int = 2) -> list[dict]:
        """Where the model's terms occur in the text: overlapping occurrences merged ("in wet" and
        "wet" -> one span), strongest first. Offsets as `_span` gives them (text or subject)."""
        if not terms:
            return []
        toks = p.tokens
        if p.words is None:
            p.words = [w for w, _s, _e in toks]
        words = p.words
        found: list[list] = []
        for term, weight in terms:
            parts = term.split()
            n = len(parts)
            hits, i = 0, -1
            while hits < per_term:
                try:
                    i = words.index(parts[0], i + 1)
                except ValueError:
                    break
                if n == 1 or words[i:i + n] == parts:
                    start, end = toks[i][1], toks[i + n - 1][2]
                    if p.subject_len and start < p.subject_len and end > p.subject_len - 2:
                        continue  # an n-gram running from the subject line into the body
                    found.append([start, end, weight])
                    hits += 1
        merged: list[list] = []
        for s, e, w in sorted(found):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
                merged[-1][2] = max(merged[-1][2], w)
            else:
                merged.append([s, e, w])
        merged.sort(key=lambda m: -m[2])
        return [{"text": p.text[s:e], **self._span(p, s, e), "weight": round(w, 3)} for s, e, w in merged]
