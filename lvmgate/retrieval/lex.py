"""Token-overlap retrieval: Jaccard similarity of distinct word sets, over the whole corpus.

    score(q, d) = |T(q) & T(d)| / |T(q) | T(d)|

with T(x) the set of x's tokens (the same tokenizer as BM25: lower-cased words, function words
dropped). No term weighting at all: the floor any learned or weighted retriever must clear. A text
finds itself with score 1; only documents sharing a token are retrieved; ties go to the lower row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy import sparse

from lvmgate.encoders.hashing import STOPWORDS
from lvmgate.errors import InputError
from lvmgate.retrieval.bm25 import TermMatrix, tokenize_all
from lvmgate.retrieval.search import topk_each


class LexIndex:
    """Jaccard token-set overlap against every document."""

    name = "lex"

    def __init__(self, docs: Sequence[Sequence[Any]] | TermMatrix):
        self.terms = docs if isinstance(docs, TermMatrix) else TermMatrix(docs)
        if self.terms.n_docs == 0:
            raise InputError("lex: the corpus has no documents")
        c = self.terms.counts
        self.binary = sparse.csr_matrix(
            (np.ones(c.nnz, dtype=np.float32), c.indices, c.indptr), shape=c.shape
        )  # (V, N) 1 where the term occurs
        self.set_size = np.bincount(c.indices, minlength=self.terms.n_docs).astype(np.float64)  # (N,)

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, stopwords: frozenset[str] | None = STOPWORDS) -> LexIndex:
        return cls(tokenize_all(texts, stopwords=stopwords))

    @property
    def n_docs(self) -> int:
        return self.terms.n_docs

    def scores(self, query: Sequence[Any]) -> np.ndarray:
        """(N,) Jaccard similarity of every document to one tokenised query."""
        q_size = len(set(query))
        ids = np.unique(self.terms.term_ids(query))
        inter = self.terms.gather(self.binary, ids, np.ones(ids.size))  # (N,) shared distinct tokens
        union = q_size + self.set_size - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)

    def search(
        self, queries: Sequence[Sequence[Any]], k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k per tokenised query: (scores (q, k), rows (q, k)), -inf / -1 padded."""
        return topk_each(self.scores, queries, k, exclude)

    def memory_bytes(self) -> int:
        m = self.binary
        return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes + self.set_size.nbytes) + (
            self.terms.vocab_bytes()
        )

    def params(self) -> dict[str, Any]:
        return {"similarity": "jaccard of token sets", "n_terms": self.terms.n_terms}
