"""The corpus model: chunk records (the JSONL contract) and columnar batches of them.

Canonical order everywhere (stores, metrics, sequences) is (article_id, chunk_index, input row):
article ids compared as code points (= UTF-8 bytes, PostgreSQL's "C" collation), so every store
returns the same rows in the same order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from lvmgate.errors import InputError
from lvmgate.io import atomic_open, iter_jsonl

MISSING = -1  # integer columns use -1 where a record has no value (e.g. no TMD codes)

TMD_FIELDS = ("domain_code", "task_code", "modifier_code")


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """One chunk of one article, as in the JSONL contract."""

    article_id: str
    chunk_index: int
    text: str
    title: str | None = None
    domain_code: int | None = None
    task_code: int | None = None
    modifier_code: int | None = None
    dataset_source: str | None = None

    def to_json_dict(self) -> dict:
        out = {"article_id": self.article_id, "chunk_index": self.chunk_index, "text": self.text}
        for key in ("title", "domain_code", "task_code", "modifier_code", "dataset_source"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def record_from_dict(obj: dict, where: str = "") -> ChunkRecord:
    """Validate one JSON object against the chunk contract; errors name `where` (file:line)."""
    prefix = f"{where}: " if where else ""
    for key in ("article_id", "chunk_index", "text"):
        if key not in obj:
            raise InputError(f"{prefix}missing required field {key!r}")
    article_id = obj["article_id"]
    if isinstance(article_id, int) and not isinstance(article_id, bool):
        article_id = str(article_id)
    if not isinstance(article_id, str) or not article_id:
        raise InputError(f"{prefix}article_id must be a non-empty string")
    chunk_index = obj["chunk_index"]
    if not isinstance(chunk_index, int) or isinstance(chunk_index, bool) or chunk_index < 0:
        raise InputError(f"{prefix}chunk_index must be a non-negative integer, got {chunk_index!r}")
    text = obj["text"]
    if not isinstance(text, str):
        raise InputError(f"{prefix}text must be a string")
    codes = {}
    for key in TMD_FIELDS:
        value = obj.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise InputError(f"{prefix}{key} must be a non-negative integer, got {value!r}")
        codes[key] = value
    title = obj.get("title")
    if title is not None and not isinstance(title, str):
        raise InputError(f"{prefix}title must be a string")
    for key, value in (("article_id", article_id), ("text", text), ("title", title)):
        if value is not None and "\x00" in value:  # PostgreSQL cannot store NUL: refuse it in every store
            raise InputError(f"{prefix}{key} contains a NUL character")
    source = obj.get("dataset_source")
    return ChunkRecord(article_id, chunk_index, text, title, dataset_source=source, **codes)


def read_records(path: str | os.PathLike) -> Iterator[ChunkRecord]:
    """Stream validated records from a chunks JSONL file."""
    for lineno, obj in iter_jsonl(path):
        yield record_from_dict(obj, f"{path}:{lineno}")


def write_records(path: str | os.PathLike, records: Iterable[ChunkRecord]) -> int:
    """Write records as JSONL atomically; returns the number written."""
    import json

    n = 0
    with atomic_open(path, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec.to_json_dict(), ensure_ascii=False))
            fh.write("\n")
            n += 1
    return n


@dataclass(frozen=True)
class ChunkBatch:
    """Consecutive rows in canonical order, column by column.

    `pos` is each row's position in the dataset's canonical order; integer TMD columns hold
    MISSING (-1) where a record had no code; `vectors` is (n, D) float32 or None.
    """

    pos: np.ndarray  # (n,) int64
    article_id: np.ndarray  # (n,) object (str)
    chunk_index: np.ndarray  # (n,) int64
    text: list[str] | None = None
    title: list[str | None] | None = None
    domain_code: np.ndarray | None = None  # (n,) int16
    task_code: np.ndarray | None = None  # (n,) int16
    modifier_code: np.ndarray | None = None  # (n,) int16
    vectors: np.ndarray | None = None  # (n, D) float32

    def __len__(self) -> int:
        return len(self.pos)

    def records(self) -> Iterator[ChunkRecord]:
        """Rows as ChunkRecords (needs text)."""
        if self.text is None:
            raise ValueError("batch was read without text")

        def code(col: np.ndarray | None, i: int) -> int | None:
            if col is None or col[i] == MISSING:
                return None
            return int(col[i])

        for i in range(len(self)):
            yield ChunkRecord(
                str(self.article_id[i]),
                int(self.chunk_index[i]),
                self.text[i],
                self.title[i] if self.title is not None else None,
                code(self.domain_code, i),
                code(self.task_code, i),
                code(self.modifier_code, i),
            )


@dataclass(frozen=True)
class ArticleIndex:
    """Articles of a dataset in canonical order: ids and CSR offsets into the row order.

    Rows offsets[a]..offsets[a+1]-1 belong to article a; sequences and pairs are index arrays
    built from these offsets, never copies of vectors.
    """

    ids: np.ndarray  # (A,) object
    offsets: np.ndarray  # (A+1,) int64
    chunk_index: np.ndarray = field(repr=False)  # (N,) int64, row -> chunk_index

    @property
    def n_articles(self) -> int:
        return len(self.ids)

    @property
    def n_rows(self) -> int:
        return int(self.offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def article_of_row(self) -> np.ndarray:
        """(N,) article number of each row."""
        return np.repeat(np.arange(self.n_articles, dtype=np.int64), self.lengths)

    def subset(self, articles: Sequence[int] | np.ndarray) -> tuple[ArticleIndex, np.ndarray]:
        """Index over the chosen articles (kept in canonical order) and their (M,) row positions."""
        chosen = np.sort(np.asarray(articles, dtype=np.int64))
        lengths = self.lengths[chosen]
        offsets = np.zeros(len(chosen) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        rows = ranges_to_rows(self.offsets[chosen], lengths)
        return ArticleIndex(self.ids[chosen], offsets, self.chunk_index[rows]), rows


def ranges_to_rows(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate the integer ranges [start, start+length) without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    rows = np.ones(total, dtype=np.int64)
    rows[0] = starts[0]
    nonempty = lengths > 0
    s, e = np.asarray(starts, dtype=np.int64)[nonempty], ends[nonempty]
    # at each range start, jump from the previous range's last value to this range's start
    rows[e[:-1]] = s[1:] - (s[:-1] + lengths[nonempty][:-1] - 1)
    return np.cumsum(rows)


def canonical_order(article_ids: Sequence[str], chunk_index: np.ndarray) -> np.ndarray:
    """(N,) permutation putting input rows into canonical (article_id, chunk_index, row) order."""
    ids = np.asarray(article_ids, dtype=object)
    uniq, codes = np.unique(ids.astype(str), return_inverse=True)  # np.unique sorts by code point
    del uniq
    return np.lexsort((np.arange(len(ids)), np.asarray(chunk_index), codes))
