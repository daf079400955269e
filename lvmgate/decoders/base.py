"""The decoder interface: vectors (n, D) in, one `Decoded` (text + similarity) per row out, batched.

Every decoder validates its input the same way (`Decoder.decode`): a 2-D float array of the
decoder's dimension, else an InputError; rows holding NaN/inf or all zeros are not decoded but come
back as a `Decoded` with `error` set, in place, so one bad row never costs the rest of a batch.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.results import Result

NONFINITE = "non-finite vector (NaN or inf)"
ZERO = "all-zero vector"


@dataclass(frozen=True)
class Decoded(Result):
    """One decoded vector: the text, and how similar the decoder's answer is to the query.

    `score` is a cosine similarity in [-1, 1]: for `nearest` the cosine of the matched bank row,
    for vec2text the cosine between the query and vec2text's own re-embedding of the text.
    `row` is the matched bank row (nearest only); `error` says why a row has no text.
    """

    text: str
    score: float
    row: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def check_queries(vectors: Any, dim: int | None, decoder: str) -> np.ndarray:
    """`vectors` as a C-contiguous (n, D) float32 array; wrong rank or dimension is an InputError."""
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"decoder {decoder!r}: vectors are not a numeric array ({exc})") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InputError(f"decoder {decoder!r}: expected vectors of shape (n, D), got {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise InputError(f"decoder {decoder!r} expects {dim}-D vectors, got {arr.shape[1]}-D")
    return np.ascontiguousarray(arr)


def invalid_reasons(vectors: np.ndarray) -> list[str | None]:
    """Per row: None if decodable, else why not (non-finite or all-zero)."""
    sq = np.einsum("ij,ij->i", vectors.astype(np.float64), vectors.astype(np.float64))  # (n,)
    return [NONFINITE if not np.isfinite(s) else ZERO if s == 0.0 else None for s in sq]


class Decoder(abc.ABC):
    """Turns vectors back into text. Subclasses implement `_decode_batch` on valid rows only."""

    name: str = "decoder"
    dim: int | None = None  # None: any dimension
    default_batch_size: int = 64

    def params(self) -> dict[str, Any]:
        """What, besides the input, decides the output (recorded in artifacts)."""
        return {"decoder": self.name}

    def decode(
        self,
        vectors: np.ndarray,
        *,
        batch_size: int | None = None,
        progress: bool = False,
        on_batch: Callable[[int, float], None] | None = None,
        **aligned: Any,
    ) -> list[Decoded]:
        """Decode (n, D) vectors in batches; `aligned` options are per-row arrays sliced with them.

        `on_batch(n_rows, seconds)` is called after every batch (for latency accounting).
        """
        import time

        arr = check_queries(vectors, self.dim, self.name)
        n = arr.shape[0]
        for key, value in aligned.items():
            if value is not None and len(value) != n:
                raise InputError(f"decoder {self.name!r}: {key} has {len(value)} entries for {n} vectors")
        reasons = invalid_reasons(arr)
        out: list[Decoded | None] = [
            None if r is None else Decoded("", float("nan"), None, r) for r in reasons
        ]
        good = np.flatnonzero([r is None for r in reasons])
        size = max(1, int(batch_size or self.default_batch_size))
        starts = range(0, len(good), size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc=self.name, unit="batch", total=-(-len(good) // size))
        for lo in starts:
            idx = good[lo : lo + size]
            opts = {k: (None if v is None else np.asarray(v)[idx]) for k, v in aligned.items()}
            t0 = time.perf_counter()
            results = self._decode_batch(arr[idx], **opts)
            seconds = time.perf_counter() - t0
            if len(results) != len(idx):  # pragma: no cover - a broken subclass
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(idx)} vectors")
            for i, res in zip(idx.tolist(), results):
                out[i] = res
            if on_batch is not None:
                on_batch(len(idx), seconds)
        return [d for d in out if d is not None]

    @abc.abstractmethod
    def _decode_batch(self, vectors: np.ndarray, **options: Any) -> list[Decoded]:
        """Decode (b, D) float32 rows that are finite and non-zero."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models or indexes."""
