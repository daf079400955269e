"""Fast BM25 over a whole corpus: precomputed per-(term, document) weights in a sparse matrix.

The variant is rank-bm25's `BM25Okapi` exactly (that library stays the reference the tests compare
against), with its defaults k1 = 1.5, b = 0.75, epsilon = 0.25:

    idf(t)      = ln(N - df(t) + 0.5) - ln(df(t) + 0.5)
                  (terms with idf < 0, i.e. in more than half of the documents, get
                   epsilon * mean idf, the mean taken over all terms before that floor)
    w(t, d)     = idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
    score(q, d) = sum over query tokens t, repeats included, of w(t, d)

|d| counts all of d's tokens; avgdl = total tokens / N; query tokens absent from the corpus add 0.
rank-bm25 loops over every document in Python per query term (327 ms/query at 100k documents on
these machines); here w is a (V, N) CSR matrix built once, and a query sums its terms' rows with
one `np.bincount` into a dense score vector, then takes the top k (docs/retrieval.md has numbers).
Only documents sharing at least one query term (score > 0) are retrieved; ties go to the lower row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy import sparse

from lvmgate.encoders.hashing import STOPWORDS
from lvmgate.errors import InputError
from lvmgate.retrieval.search import topk_each

_WORD = re.compile(r"\w+")


def tokenize(text: str, *, stopwords: frozenset[str] | None = STOPWORDS) -> list[str]:
    """Lower-cased word tokens (unicode `\\w+`), English function words dropped by default."""
    words = _WORD.findall(text.lower())
    if not stopwords:
        return words
    return [w for w in words if w not in stopwords]


def tokenize_all(texts: Iterable[str], *, stopwords: frozenset[str] | None = STOPWORDS) -> list[list[str]]:
    return [tokenize(t, stopwords=stopwords) for t in texts]


class TermMatrix:
    """Documents as a (V, N) CSR matrix of term counts (term-major: row t lists t's postings)."""

    def __init__(self, docs: Sequence[Sequence[Any]]):
        vocab: dict[Any, int] = {}
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))  # (N,)
        ids = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for d in docs for t in d),
            dtype=np.int64,
            count=int(lengths.sum()),
        )
        self._init(vocab, ids, lengths)

    @classmethod
    def from_ids(cls, term_ids: np.ndarray, lengths: np.ndarray, n_terms: int | None = None) -> TermMatrix:
        """From concatenated integer token ids (all documents, in order) and (N,) document lengths."""
        self = cls.__new__(cls)
        ids = np.asarray(term_ids, dtype=np.int64)
        n_terms = int(n_terms if n_terms is not None else (ids.max() + 1 if ids.size else 0))
        self._init(range(n_terms), ids, np.asarray(lengths, dtype=np.int64))
        return self

    def _init(self, vocab: Any, ids: np.ndarray, lengths: np.ndarray) -> None:
        self.vocab = vocab if isinstance(vocab, dict) else None  # None: tokens are the integer ids
        self.n_terms = len(vocab)
        self.n_docs = len(lengths)
        self.doc_len = lengths  # (N,) tokens per document, repeats included
        doc = np.repeat(np.arange(self.n_docs, dtype=np.int32), lengths)  # (T,) document of each token
        counts = sparse.csr_matrix(
            (np.ones(ids.size, dtype=np.float32), (ids, doc)), shape=(self.n_terms, self.n_docs)
        )  # duplicates (repeated tokens) are summed into term counts
        counts.sum_duplicates()
        counts.sort_indices()
        self.counts = counts  # (V, N) float32 term frequencies
        self.df = np.diff(counts.indptr).astype(np.int64)  # (V,) documents containing each term

    def term_ids(self, tokens: Sequence[Any]) -> np.ndarray:
        """Ids of the tokens known to the corpus, repeats kept (unknown tokens dropped)."""
        if self.vocab is None:
            ids = np.asarray(tokens, dtype=np.int64)
            return ids[(ids >= 0) & (ids < self.n_terms)]
        get = self.vocab.get
        return np.array([i for i in (get(t) for t in tokens) if i is not None], dtype=np.int64)

    def gather(self, matrix: sparse.csr_matrix, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """(N,) float64: sum over the given terms of weight * that term's row of `matrix`."""
        indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
        spans = [(int(indptr[t]), int(indptr[t + 1]), float(w)) for t, w in zip(ids.tolist(), weights)]
        spans = [sp for sp in spans if sp[1] > sp[0]]
        if not spans:
            return np.zeros(self.n_docs)
        docs = np.concatenate([indices[s:e] for s, e, _ in spans])
        vals = np.concatenate([data[s:e].astype(np.float64) * w for s, e, w in spans])
        return np.bincount(docs, weights=vals, minlength=self.n_docs)

    def vocab_bytes(self) -> int:
        """Approximate bytes of the token -> id dictionary (0 for integer tokens)."""
        if self.vocab is None:
            return 0
        import sys

        return sys.getsizeof(self.vocab) + sum(sys.getsizeof(t) + 28 for t in self.vocab)

    def memory_bytes(self) -> int:
        m = self.counts
        return int(
            m.data.nbytes + m.indices.nbytes + m.indptr.nbytes + self.doc_len.nbytes + self.vocab_bytes()
        )


class BM25Index:
    """BM25Okapi (rank-bm25's variant and defaults) over a whole corpus of token lists."""

    name = "bm25"

    def __init__(
        self,
        docs: Sequence[Sequence[Any]] | TermMatrix,
        *,
        k1: float = 1.5,
        b: float = 0.75,
        epsilon: float = 0.25,
        dtype: Any = np.float32,
    ):
        self.terms = docs if isinstance(docs, TermMatrix) else TermMatrix(docs)
        self.k1, self.b, self.epsilon = float(k1), float(b), float(epsilon)
        t = self.terms
        if t.n_docs == 0:
            raise InputError("bm25: the corpus has no documents")
        n = t.n_docs
        self.avgdl = float(t.doc_len.sum()) / n
        df = t.df.astype(np.float64)
        idf = np.log(n - df + 0.5) - np.log(df + 0.5)  # (V,)
        seen = df > 0  # ids that never occur (possible with from_ids) are not terms of the corpus
        self.average_idf = float(idf[seen].mean()) if seen.any() else 0.0
        idf[idf < 0] = self.epsilon * self.average_idf
        self.idf = idf
        c = t.counts
        tf = c.data.astype(np.float64)
        term_of = np.repeat(np.arange(t.n_terms), np.diff(c.indptr))  # (nnz,) term of each posting
        dl = t.doc_len[c.indices].astype(np.float64)
        norm = self.k1 * (1.0 - self.b + self.b * dl / self.avgdl) if self.avgdl > 0 else self.k1
        data = idf[term_of] * tf * (self.k1 + 1.0) / (tf + norm)
        self.weights = sparse.csr_matrix((data.astype(dtype), c.indices, c.indptr), shape=c.shape)

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, stopwords: frozenset[str] | None = STOPWORDS, **kw: Any):
        return cls(tokenize_all(texts, stopwords=stopwords), **kw)

    @property
    def n_docs(self) -> int:
        return self.terms.n_docs

    def scores(self, query: Sequence[Any]) -> np.ndarray:
        """(N,) float64 BM25 score of every document for one tokenised query."""
        ids = self.terms.term_ids(query)
        if ids.size == 0:
            return np.zeros(self.n_docs)
        uniq, counts = np.unique(ids, return_counts=True)  # repeated query tokens count repeatedly
        return self.terms.gather(self.weights, uniq, counts)

    def search(
        self, queries: Sequence[Sequence[Any]], k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k per tokenised query: (scores (q, k) float64, rows (q, k) int64), -inf / -1 padded."""
        return topk_each(self.scores, queries, k, exclude)

    def memory_bytes(self) -> int:
        w = self.weights
        return int(
            w.data.nbytes + w.indices.nbytes + w.indptr.nbytes + self.idf.nbytes + self.terms.vocab_bytes()
        )

    def params(self) -> dict[str, Any]:
        return {
            "variant": "BM25Okapi (rank-bm25)",
            "k1": self.k1,
            "b": self.b,
            "epsilon": self.epsilon,
            "n_terms": self.terms.n_terms,
            "avgdl": self.avgdl,
        }
