"""The Store interface: datasets of chunk records plus an aligned float32 vector bank.

Contract (checked by tests/test_store_contract.py against every implementation):
- `ingest` is all-or-nothing: on any error nothing of the dataset is left behind, and an existing
  dataset of that name is refused unless `replace=True` (then swapped in atomically).
- reads come back in canonical order (article_id code-point order, chunk_index, input row) and
  stream in batches; `pos` numbers rows 0..N-1 in that order.
- vectors are float32; rows the ingest was told to keep invalid (zero / NaN) come back as stored.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lvmgate.corpus import ArticleIndex, ChunkBatch, ChunkRecord
from lvmgate.errors import InputError
from lvmgate.results import Result


@dataclass(frozen=True)
class DatasetInfo(Result):
    """What a store knows about one dataset without reading its vectors."""

    name: str
    n_rows: int
    n_articles: int
    dim: int | None  # None: the dataset has no vectors
    encoder: str | None  # what made the vectors, when declared at ingest
    fingerprint: str  # changes whenever rows, order, codes or vectors change
    has_tmd: bool  # at least one row carries a domain code
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult(Result):
    dataset: str
    n_rows: int
    n_articles: int
    dim: int | None
    seconds: float
    replaced: bool


@dataclass(frozen=True)
class IngestOptions:
    """The keyword options of `Store.ingest`, handed to a store's `_ingest` as one value."""

    encoder: str | None = None  # what made the vectors, recorded with the dataset
    replace: bool = False  # swap an existing dataset of that name atomically
    allow_invalid: bool = False  # keep NaN/inf/zero vector rows instead of refusing them
    meta: dict[str, Any] = field(default_factory=dict)
    progress: bool = False


class Store(abc.ABC):
    """A place holding datasets of chunks and their vectors."""

    url: str

    # -- writing -------------------------------------------------------------------------------
    def ingest(
        self,
        dataset: str,
        records: Iterable[ChunkRecord],
        vectors: np.ndarray | None = None,
        *,
        encoder: str | None = None,
        replace: bool = False,
        allow_invalid: bool = False,
        meta: dict[str, Any] | None = None,
        progress: bool = False,
    ) -> IngestResult:
        """Write one dataset in one transaction. `vectors` (N, D) aligns with `records`.

        NaN/inf or all-zero vector rows are refused (InputError) unless `allow_invalid`, which
        keeps them so that the gates can show a broken upstream pipeline as it is.
        """
        validate_name(dataset)
        opts = IngestOptions(encoder, replace, allow_invalid, dict(meta or {}), progress)
        return self._ingest(dataset, records, vectors, opts)

    @abc.abstractmethod
    def _ingest(
        self, dataset: str, records: Iterable[ChunkRecord], vectors: np.ndarray | None, opts: IngestOptions
    ) -> IngestResult:
        """The store's transaction behind `ingest` (the name is valid already)."""

    def refuse_existing(self, dataset: str) -> None:
        """The one message for writing over a dataset without --replace."""
        raise InputError(f"dataset {dataset!r} already exists in {self.url}; pass --replace to overwrite it")

    @abc.abstractmethod
    def delete(self, dataset: str) -> None:
        """Remove a dataset; unknown names raise InputError."""

    # -- reading -------------------------------------------------------------------------------
    @abc.abstractmethod
    def datasets(self) -> list[str]:
        """Names of the datasets in the store, sorted."""

    @abc.abstractmethod
    def info(self, dataset: str) -> DatasetInfo:
        """Counts, dimension and fingerprint; unknown names raise InputError."""

    @abc.abstractmethod
    def articles(self, dataset: str) -> ArticleIndex:
        """Article ids, CSR offsets and chunk_index of every row, in canonical order."""

    @abc.abstractmethod
    def iter_batches(
        self,
        dataset: str,
        *,
        batch_size: int = 65536,
        rows: np.ndarray | None = None,
        text: bool = True,
        vectors: bool = True,
        tmd: bool = True,
    ) -> Iterator[ChunkBatch]:
        """Stream rows in canonical order, optionally only the sorted positions `rows`."""

    @abc.abstractmethod
    def vectors(self, dataset: str, rows: np.ndarray | None = None) -> np.ndarray:
        """(N, D) float32 vectors in canonical order (memory-mapped where the store can)."""

    @abc.abstractmethod
    def domain_counts(self, dataset: str) -> list[tuple[int | None, int]]:
        """(domain_code, count) pairs, largest first; None counts rows without a code."""

    def texts(self, dataset: str, rows: Sequence[int] | np.ndarray) -> list[str]:
        """Text of the given canonical positions, in the order given."""
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        uniq = np.unique(sorted_rows)
        found: dict[int, str] = {}
        for batch in self.iter_batches(dataset, rows=uniq, vectors=False, tmd=False):
            found.update(zip(batch.pos.tolist(), batch.text or []))
        return [found[int(r)] for r in rows]

    def has_dataset(self, dataset: str) -> bool:
        return dataset in self.datasets()

    def require(self, dataset: str) -> DatasetInfo:
        """Info of an existing, non-empty dataset, or one clear InputError naming what exists."""
        if not self.has_dataset(dataset):
            known = ", ".join(self.datasets()) or "none"
            raise InputError(f"unknown dataset {dataset!r} in {self.url} (datasets: {known})")
        info = self.info(dataset)
        if info.n_rows == 0:
            raise InputError(f"dataset {dataset!r} in {self.url} is empty")
        return info

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections / file handles."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_vectors(vectors: np.ndarray, n_rows: int, *, allow_invalid: bool, where: str = "vectors") -> None:
    """Validate an (N, D) vector array against N records; NaN/inf/zero rows refused unless allowed."""
    if vectors.ndim != 2:
        raise InputError(f"{where}: expected a 2-D array (N, D), got shape {vectors.shape}")
    if vectors.shape[0] != n_rows:
        raise InputError(f"{where}: {vectors.shape[0]} vectors for {n_rows} records")
    if vectors.shape[1] < 1:
        raise InputError(f"{where}: vectors have dimension 0")
    if allow_invalid:
        return
    bad_nan, bad_zero = invalid_rows(vectors)
    if bad_nan.size:
        raise InputError(
            f"{where}: {bad_nan.size} rows contain NaN or inf (first at row {int(bad_nan[0])}); "
            "fix the embedding step or pass --allow-invalid to store them for inspection"
        )
    if bad_zero.size:
        raise InputError(
            f"{where}: {bad_zero.size} rows are all zero (first at row {int(bad_zero[0])}); failed "
            "embedding batches? pass --allow-invalid to store them for inspection"
        )


def invalid_rows(vectors: np.ndarray, block: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers holding NaN/inf, and rows that are all zero; streamed in blocks."""
    nonfinite, zero = [], []
    for start in range(0, vectors.shape[0], block):
        part = np.asarray(vectors[start : start + block])
        sq = np.einsum("ij,ij->i", part, part)  # NaN/inf propagate into the squared norm
        nonfinite.append(np.flatnonzero(~np.isfinite(sq)) + start)
        zero.append(np.flatnonzero(sq == 0.0) + start)
    cat = np.concatenate
    return (
        cat(nonfinite) if nonfinite else np.zeros(0, np.int64),
        cat(zero) if zero else np.zeros(0, np.int64),
    )


def validate_name(dataset: str) -> str:
    """Dataset names: 1-128 chars of letters, digits, '_', '-', '.'."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,128}", dataset or ""):
        raise InputError(f"invalid dataset name {dataset!r}: use letters, digits, '_', '-', '.'")
    return dataset
