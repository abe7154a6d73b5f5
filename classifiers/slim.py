"""The slim artefact: the trained models as plain numpy arrays and vocabularies, no scikit-learn.

Unpickling scikit-learn objects imports scikit-learn (over a second) and rebuilds every estimator;
classification only needs the TF-IDF vocabularies and idf weights plus one stacked weight matrix.
`SlimTfidf.transform` reproduces TfidfVectorizer (word n-grams on whitespace tokens, or char_wb
n-grams; sublinear tf; idf; l2 rows) exactly; tests/test_classifier.py checks it against sklearn.
"""

from __future__ import annotations

import re

import numpy as np
from scipy.sparse import csr_matrix

_WS = re.compile(r"\s\s+")


class SlimTfidf:
    def __init__(self, analyzer: str, ngram_range: tuple[int, int], vocabulary: dict[str, int], idf: np.ndarray):
        self.analyzer = analyzer
        self.min_n, self.max_n = ngram_range
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float32)
        self._cache: dict[str, list[int]] = {}

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._cache = {}

    @classmethod
    def from_sklearn(cls, vec) -> "SlimTfidf":
        return cls(vec.analyzer, tuple(vec.ngram_range), {k: int(v) for k, v in vec.vocabulary_.items()},
                   vec.idf_.astype(np.float32))

    def _word_grams(self, doc: str) -> list[str]:
        toks = doc.lower().split()
        out: list[str] = []
        for n in range(self.min_n, self.max_n + 1):
            out.extend(" ".join(toks[i:i + n]) for i in range(len(toks) - n + 1))
        return out

    def _char_ids(self, word: str) -> list[int]:
        """Vocabulary ids of one word's char_wb n-grams (cached: words repeat across concerns)."""
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        w = f" {word} "
        L = len(w)
        grams: list[str] = []
        for n in range(self.min_n, self.max_n + 1):
            if L <= n:  # a word shorter than n: counted once, as a whole
                grams.append(w)
                break
            grams.extend(w[i:i + n] for i in range(L - n + 1))
        vocab = self.vocabulary
        ids = [j for j in map(vocab.get, grams) if j is not None]
        if len(self._cache) < 300_000:
            self._cache[word] = ids
        return ids

    def _ids(self, doc: str) -> list[int]:
        if self.analyzer == "word":
            vocab = self.vocabulary
            return [j for j in map(vocab.get, self._word_grams(doc)) if j is not None]
        out: list[int] = []
        for w in _WS.sub(" ", doc.lower()).split():
            out.extend(self._char_ids(w))
        return out

    def transform(self, docs: list[str]) -> csr_matrix:
        indptr, indices, data = [0], [], []
        for doc in docs:
            ids = np.array(self._ids(doc), dtype=np.int32)
            idx, cnt = np.unique(ids, return_counts=True)
            val = (1.0 + np.log(cnt.astype(np.float32))) * self.idf[idx]
            norm = float(np.sqrt(np.dot(val, val)))
            if norm > 0:
                val /= norm
            indices.append(idx.astype(np.int32))
            data.append(val.astype(np.float32))
            indptr.append(indptr[-1] + len(idx))
        ind = np.concatenate(indices) if indices else np.zeros(0, np.int32)
        dat = np.concatenate(data) if data else np.zeros(0, np.float32)
        return csr_matrix((dat, ind, np.array(indptr)), shape=(len(docs), len(self.idf)), dtype=np.float32)

    def feature_names(self) -> np.ndarray:
        names = np.empty(len(self.vocabulary), dtype=object)
        for k, v in self.vocabulary.items():
            names[v] = k
        return names
