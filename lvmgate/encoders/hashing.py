"""Feature-hashing encoder: words -> signed hashed counts -> unit vector. No weights, any dimension.

Each lower-cased word token maps by a salted BLAKE2b hash to `k` (dimension, sign) slots; a text's
vector is the sum of sublinear term weights (1 + log tf) over its tokens, L2-normalised. Two texts
are similar exactly as far as they share words, which is what the synthetic corpora rely on.
A different salt is a different encoder (same texts, unrelated vectors): the `encoder_mismatch`
fault uses that.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from lvmgate.encoders.base import Encoder, register

_TOKEN = re.compile(r"[a-z0-9]+")
# English function words carry no topic; like most hashing vectorizers we drop them so that
# similarity reflects shared content (switch off with stopwords=False).
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just me more most my no nor
    not now of off on once only or other our out over own same she should so some such than that the
    their them then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your""".split()
)
DEFAULT_SALT = "lvmgate"


class HashingEncoder(Encoder):
    name = "hashing"

    def __init__(self, dim: int = 768, salt: str = DEFAULT_SALT, k: int = 2, stopwords: bool = True):
        if int(dim) < 1:
            raise ValueError("dim must be positive")
        self.dim, self.salt, self.k = int(dim), str(salt), int(k)
        self.stopwords = STOPWORDS if stopwords and stopwords != "0" else frozenset()
        self._vocab: dict[str, int] = {}
        self._tokens: list[str] = []
        self._cols = np.zeros(0, np.int64)
        self._vals = np.zeros(0, np.float64)

    @property
    def spec(self) -> str:
        return f"hashing:dim={self.dim}:salt={self.salt}" + ("" if self.stopwords else ":stopwords=0")

    def _project(self) -> sparse.csr_matrix:
        """(V, dim) sparse projection: row v holds token v's k signed slots (extended as vocab grows)."""
        new = self._tokens[len(self._cols) // self.k :]
        if new:
            raw = b"".join(
                hashlib.blake2b(f"{self.salt}\x00{t}".encode(), digest_size=8 * self.k).digest() for t in new
            )
            words = np.frombuffer(raw, dtype="<u8")
            self._cols = np.concatenate([self._cols, (words % self.dim).astype(np.int64)])
            self._vals = np.concatenate([self._vals, np.where(words >> 63, -1.0, 1.0)])
        v = len(self._tokens)
        indptr = np.arange(0, self.k * v + 1, self.k)
        return sparse.csr_matrix((self._vals, self._cols, indptr), shape=(v, self.dim))

    def encode(self, texts: Sequence[str], *, batch_size: int = 16384, progress: bool = False) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)  # (n, dim)
        vocab, stop = self._vocab, self.stopwords
        for lo in range(0, len(texts), batch_size):
            part = texts[lo : lo + batch_size]
            ids: list[int] = []
            indptr = [0]
            for text in part:
                for tok in _TOKEN.findall(text.lower()):
                    if tok in stop:
                        continue
                    i = vocab.get(tok)
                    if i is None:
                        i = vocab[tok] = len(self._tokens)
                        self._tokens.append(tok)
                    ids.append(i)
                indptr.append(len(ids))
            counts = sparse.csr_matrix(
                (np.ones(len(ids)), np.asarray(ids, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
                shape=(len(part), len(self._tokens)),
            )
            counts.sum_duplicates()
            counts.data = 1.0 + np.log(counts.data)  # sublinear term frequency
            out[lo : lo + len(part)] = (counts @ self._project()).toarray()
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


@register("hashing")
def _factory(dim: int = 768, salt: str = DEFAULT_SALT, k: int = 2, stopwords: bool = True) -> HashingEncoder:
    return HashingEncoder(dim=dim, salt=salt, k=k, stopwords=stopwords)
