"""The embedded default store: one SQLite file for records plus memory-mapped float32 vector files.

Layout of a store directory DIR (or of `sqlite:///X.db`, whose sidecar folder is `X.db.d/`):
    DIR/lvmgate.sqlite              datasets + chunks tables (chunks keyed by canonical position)
    DIR/vectors/<name>-<token>.f32  raw float32 (N, D), rows in canonical order
    DIR/vectors/<name>-<token>.npz  article index (ids, offsets, chunk_index) for fast loads
No server, no extension: reads of vectors are a memory map, so a pass over 1M x 768 vectors runs at
memory bandwidth.

Long on purpose: one store, and its on-disk layout (SQLite rows + memory-mapped vectors) is shared by
ingest, canonical ordering and streaming reads; split, each part would restate it.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import itertools
import json
import mmap
import operator
import os
import secrets
import sqlite3
import time
import zlib
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lvmgate.corpus import MISSING, ArticleIndex, ChunkBatch, ChunkRecord
from lvmgate.errors import InputError, StoreError
from lvmgate.stores.base import DatasetInfo, IngestOptions, IngestResult, Store, check_vectors

SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY,
    n_rows INTEGER NOT NULL,
    n_articles INTEGER NOT NULL,
    dim INTEGER,
    file_stem TEXT NOT NULL,
    encoder TEXT,
    fingerprint TEXT NOT NULL,
    has_tmd INTEGER NOT NULL,
    meta TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    dataset TEXT NOT NULL,
    pos INTEGER NOT NULL,
    input_row INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    title TEXT,
    domain_code INTEGER,
    task_code INTEGER,
    modifier_code INTEGER,
    dataset_source TEXT,
    PRIMARY KEY (dataset, pos)
) WITHOUT ROWID;
"""

_COLUMNS = (
    "article_id",
    "chunk_index",
    "text",
    "title",
    "domain_code",
    "task_code",
    "modifier_code",
    "dataset_source",
)
_FIELDS = operator.attrgetter(*_COLUMNS)
_INT_COLUMNS = frozenset(i for i, c in enumerate(_COLUMNS) if c == "chunk_index" or c.endswith("_code"))
_BLOCK = 20000  # records per staging block
_VECTOR_BLOCK_BYTES = 32 << 20  # vectors gathered / written per block (rounded to 1024 rows)


class EmbeddedStore(Store):
    """SQLite + memory-mapped vectors; `path` is a store directory or an `X.db` file."""

    def __init__(self, path: str | os.PathLike, *, url: str | None = None):
        path = Path(path)
        if path.suffix in (".db", ".sqlite", ".sqlite3"):
            self.db_path, self.vector_dir = path, path.with_name(path.name + ".d") / "vectors"
        else:
            self.db_path, self.vector_dir = path / "lvmgate.sqlite", path / "vectors"
        self.url = url or str(path)
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self.vector_dir.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open embedded store at {path}: {exc}") from None
        self._index_cache: dict[str, tuple[str, ArticleIndex]] = {}

    # -- reading -------------------------------------------------------------------------------
    def datasets(self) -> list[str]:
        return [r[0] for r in self._con.execute("SELECT name FROM datasets ORDER BY name")]

    def _row(self, dataset: str) -> sqlite3.Row:
        cur = self._con.execute(
            "SELECT name, n_rows, n_articles, dim, file_stem, encoder, fingerprint, has_tmd, meta "
            "FROM datasets WHERE name = ?",
            (dataset,),
        )
        row = cur.fetchone()
        if row is None:
            known = ", ".join(self.datasets()) or "none"
            raise InputError(f"unknown dataset {dataset!r} in {self.url} (datasets: {known})")
        return row

    def info(self, dataset: str) -> DatasetInfo:
        name, n_rows, n_articles, dim, _stem, encoder, fp, has_tmd, meta = self._row(dataset)
        return DatasetInfo(name, n_rows, n_articles, dim, encoder, fp, bool(has_tmd), json.loads(meta))

    def articles(self, dataset: str) -> ArticleIndex:
        row = self._row(dataset)
        stem, fingerprint = row[4], row[6]
        cached = self._index_cache.get(dataset)
        if cached and cached[0] == fingerprint:
            return cached[1]
        with np.load(self.vector_dir / f"{stem}.npz", allow_pickle=False) as z:
            index = ArticleIndex(z["ids"].astype(object), z["offsets"], z["chunk_index"])
        self._index_cache[dataset] = (fingerprint, index)
        return index

    def vectors(self, dataset: str, rows: np.ndarray | None = None) -> np.ndarray:
        _, n_rows, _, dim, stem, *_ = self._row(dataset)
        if dim is None:
            raise InputError(f"dataset {dataset!r} has no vectors (ingest it with --vectors or --encoder)")
        if n_rows == 0:
            return np.zeros((0, dim), np.float32)
        bank = np.memmap(self.vector_dir / f"{stem}.f32", dtype=np.float32, mode="r", shape=(n_rows, dim))
        return bank if rows is None else np.asarray(bank[np.asarray(rows, dtype=np.int64)])

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
        info = self.info(dataset)
        want_vectors = vectors and info.dim is not None
        bank = self.vectors(dataset) if want_vectors else None
        cols = ["pos", "article_id", "chunk_index"]
        cols += ["text", "title"] if text else []
        cols += ["domain_code", "task_code", "modifier_code"] if tmd else []
        select = ", ".join(cols)
        if rows is None:
            chunks: Iterable[np.ndarray | tuple[int, int]] = (
                (lo, min(lo + batch_size, info.n_rows)) for lo in range(0, info.n_rows, batch_size)
            )
        else:
            rows = np.asarray(rows, dtype=np.int64)
            if rows.size and (np.any(np.diff(rows) <= 0) or rows[0] < 0 or rows[-1] >= info.n_rows):
                raise ValueError("rows must be strictly increasing positions inside the dataset")
            chunks = (rows[i : i + batch_size] for i in range(0, len(rows), batch_size))
        for part in chunks:
            if isinstance(part, tuple):
                lo, hi = part
                cur = self._con.execute(
                    f"SELECT {select} FROM chunks WHERE dataset = ? AND pos >= ? AND pos < ? ORDER BY pos",
                    (dataset, lo, hi),
                )
                got = cur.fetchall()
                vec = np.asarray(bank[lo:hi]) if bank is not None else None
            else:
                got = self._select_positions(dataset, select, part)
                vec = np.asarray(bank[part]) if bank is not None else None
            yield _batch_from_rows(got, cols, vec)

    def _select_positions(self, dataset: str, select: str, positions: np.ndarray) -> list[tuple]:
        out: list[tuple] = []
        step = 30000  # stay under SQLite's bound-variable limit
        for i in range(0, len(positions), step):
            part = positions[i : i + step].tolist()
            marks = ",".join("?" * len(part))
            out += self._con.execute(
                f"SELECT {select} FROM chunks WHERE dataset = ? AND pos IN ({marks}) ORDER BY pos",
                (dataset, *part),
            ).fetchall()
        return out

    def domain_counts(self, dataset: str) -> list[tuple[int | None, int]]:
        self._row(dataset)
        cur = self._con.execute(
            "SELECT domain_code, count(*) AS n FROM chunks WHERE dataset = ? "
            "GROUP BY domain_code ORDER BY n DESC, domain_code",
            (dataset,),
        )
        return [(code, n) for code, n in cur]

    # -- writing -------------------------------------------------------------------------------
    def _ingest(
        self, dataset: str, records: Iterable[ChunkRecord], vectors: np.ndarray | None, opts: IngestOptions
    ) -> IngestResult:
        t0 = time.perf_counter()
        existed = self.has_dataset(dataset)
        if existed and not opts.replace:
            self.refuse_existing(dataset)
        stem = f"{dataset}-{secrets.token_hex(6)}"
        vec_path, index_path = self.vector_dir / f"{stem}.f32", self.vector_dir / f"{stem}.npz"
        old_stem = self._row(dataset)[4] if existed else None
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        gc_was_enabled = gc.isenabled()
        gc.disable()  # millions of short-lived tuples: generational GC passes would dominate
        try:
            con.execute("DROP TABLE IF EXISTS temp.staging")
            con.execute("DROP TABLE IF EXISTS temp.lvmgate_perm")
            con.execute(
                "CREATE TEMP TABLE staging (input_row INTEGER PRIMARY KEY, article_id TEXT, chunk_index INTEGER,"
                " text TEXT, title TEXT, domain_code INTEGER, task_code INTEGER, modifier_code INTEGER,"
                " dataset_source TEXT)"
            )
            digest = hashlib.blake2b(digest_size=16)
            staged = _StagedKeys()
            n_rows = 0
            bar = tqdm(desc=f"ingest {dataset}", unit=" chunks", disable=not opts.progress)
            rows_iter = iter(records)
            insert = f"INSERT INTO staging ({', '.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})"
            while True:
                block = list(itertools.islice(rows_iter, _BLOCK))
                if not block:
                    break
                tuples = list(map(_FIELDS, block))
                con.executemany(insert, tuples)  # rowid = 1..N in input order (input_row + 1)
                columns = list(zip(*tuples))
                staged.add(columns)
                _digest_columns(digest, columns)
                n_rows += len(block)
                bar.update(len(block))
            bar.close()
            if vectors is not None:
                check_vectors(vectors, n_rows, allow_invalid=opts.allow_invalid)
            perm, ids, offsets, chunk_index = staged.canonical()
            con.execute("DELETE FROM chunks WHERE dataset = ?", (dataset,))
            con.execute("DELETE FROM datasets WHERE name = ?", (dataset,))
            cols = ", ".join(_COLUMNS)
            if np.array_equal(perm, np.arange(n_rows)):
                con.execute(
                    f"INSERT INTO chunks (dataset, pos, input_row, {cols}) "
                    f"SELECT ?, input_row - 1, input_row - 1, {cols} FROM staging ORDER BY input_row",
                    (dataset,),
                )
            else:  # canonical order computed in numpy; SQLite only walks it (no sort of whole rows)
                con.execute("CREATE TEMP TABLE lvmgate_perm (pos INTEGER PRIMARY KEY, input_row INTEGER)")
                con.executemany(
                    "INSERT INTO lvmgate_perm VALUES (?, ?)", zip(range(n_rows), (perm + 1).tolist())
                )
                con.execute(
                    f"INSERT INTO chunks (dataset, pos, input_row, {cols}) "
                    f"SELECT ?, p.pos, s.input_row - 1, {', '.join('s.' + c for c in _COLUMNS)} "
                    "FROM lvmgate_perm p JOIN staging s ON s.input_row = p.input_row ORDER BY p.pos",
                    (dataset,),
                )
                con.execute("DROP TABLE temp.lvmgate_perm")
            con.execute("DROP TABLE temp.staging")
            digest.update(perm.tobytes())
            dim = None
            if vectors is not None:
                dim = int(vectors.shape[1])
                _write_vectors(
                    vec_path, vectors, perm, digest, progress=opts.progress, desc=f"vectors {dataset}"
                )
            index_ids = np.array(ids, dtype=str) if ids else np.zeros(0, dtype="<U1")
            with open(index_path, "wb") as fh:
                np.savez(fh, ids=index_ids, offsets=offsets, chunk_index=chunk_index)
            con.execute(
                "INSERT INTO datasets VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    dataset,
                    n_rows,
                    len(ids),
                    dim,
                    stem,
                    opts.encoder,
                    digest.hexdigest(),
                    int(staged.has_tmd),
                    json.dumps(opts.meta),
                    time.strftime("%Y-%m-%dT%H:%M:%S"),
                ),
            )
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            for p in (vec_path, index_path):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            raise
        finally:
            if gc_was_enabled:
                gc.enable()
        if old_stem:
            self._remove_files(old_stem)
        self._index_cache.pop(dataset, None)
        return IngestResult(dataset, n_rows, len(ids), dim, time.perf_counter() - t0, existed)

    def delete(self, dataset: str) -> None:
        stem = self._row(dataset)[4]
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute("DELETE FROM chunks WHERE dataset = ?", (dataset,))
            con.execute("DELETE FROM datasets WHERE name = ?", (dataset,))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._remove_files(stem)
        self._index_cache.pop(dataset, None)

    def _remove_files(self, stem: str) -> None:
        for suffix in (".f32", ".npz"):
            with contextlib.suppress(FileNotFoundError):
                (self.vector_dir / f"{stem}{suffix}").unlink()

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._con.close()


def _write_vectors(
    path: Path, vectors: np.ndarray, perm: np.ndarray, digest, *, progress: bool, desc: str
) -> None:
    """Write vectors[perm] as raw float32 in blocks, durably, and feed a CRC-32 per block to `digest`.

    Writes go around the page cache (O_DIRECT) where the file system allows: on these VMs,
    buffered writes of gigabytes slowed everything else down 4-5x. Writing and checksumming a block
    overlap with gathering the next one (both release the GIL).
    """
    from concurrent.futures import ThreadPoolExecutor

    n, dim = len(perm), vectors.shape[1]
    identity = bool(np.array_equal(perm, np.arange(n)))
    mapped = isinstance(vectors, np.memmap)
    block = max(1024, (_VECTOR_BLOCK_BYTES // (4 * max(1, dim))) // 1024 * 1024)  # bytes: 4096-aligned
    block = min(block, max(1024, -(-n // 1024) * 1024))
    # page-aligned buffers (O_DIRECT needs them), reused: fresh 32 MB arrays page-fault every time
    raw = [mmap.mmap(-1, block * dim * 4) for _ in range(2)]
    buffers = [np.frombuffer(r, np.float32).reshape(block, dim) for r in raw]
    crcs: list[int] = []
    out_file = _DirectFile(path)
    try:
        with (
            ThreadPoolExecutor(1) as hasher,
            ThreadPoolExecutor(1) as writer,
            tqdm(total=n, desc=desc, unit=" vec", disable=not progress) as bar,
        ):
            pending: list = []
            for k, lo in enumerate(range(0, n, block)):
                hi = min(lo + block, n)
                out = buffers[k % 2][: hi - lo]
                if identity:
                    out[...] = vectors[lo:hi]
                elif mapped:  # gather in sorted order (sequential reads), then restore perm order
                    out[...] = vectors[np.sort(perm[lo:hi])][np.argsort(np.argsort(perm[lo:hi]))]
                elif vectors.dtype == np.float32 and vectors.flags.c_contiguous:
                    np.take(vectors, perm[lo:hi], axis=0, out=out)
                else:
                    out[...] = vectors[perm[lo:hi]]
                for f in pending:  # block k-1 finishes before block k is queued (k-2's buffer is free)
                    f.result()
                view = memoryview(raw[k % 2])[: (hi - lo) * dim * 4]
                pending = [
                    hasher.submit(lambda v: crcs.append(zlib.crc32(v)), view),
                    writer.submit(out_file.write, raw[k % 2], (hi - lo) * dim * 4),
                ]
                bar.update(hi - lo)
            for f in pending:
                f.result()
        out_file.finish()
    finally:
        out_file.close()
        del buffers
        for r in raw:
            with contextlib.suppress(BufferError):
                r.close()
    digest.update(np.asarray(crcs, dtype=np.uint32).tobytes())


class _DirectFile:
    """Sequential writer using O_DIRECT when the file system supports it, else buffered writes."""

    ALIGN = 4096

    def __init__(self, path: Path):
        self.path = path
        self.size = 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        self.direct = hasattr(os, "O_DIRECT")
        try:
            self.fd = os.open(path, flags | (os.O_DIRECT if self.direct else 0), 0o644)
        except OSError:
            self.direct = False
            self.fd = os.open(path, flags, 0o644)

    def write(self, buf: mmap.mmap, nbytes: int) -> None:
        """Write the first `nbytes` of an aligned buffer (padded to the alignment when direct)."""
        if self.direct:
            padded = -(-nbytes // self.ALIGN) * self.ALIGN
            if padded != nbytes:  # only the last block: pad, truncate back in finish()
                buf[nbytes:padded] = bytes(padded - nbytes)
            try:
                self._write_all(memoryview(buf)[:padded])
            except OSError:
                if self.size:  # worked before, so a real I/O error
                    raise
                self._fallback()
                self._write_all(memoryview(buf)[:nbytes])
        else:
            self._write_all(memoryview(buf)[:nbytes])
        self.size += nbytes

    def _write_all(self, view: memoryview) -> None:
        while len(view):
            done = os.write(self.fd, view)
            view = view[done:]

    def _fallback(self) -> None:
        os.close(self.fd)
        self.direct = False
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def finish(self) -> None:
        os.ftruncate(self.fd, self.size)
        os.fsync(self.fd)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class _StagedKeys:
    """Article ids (as small integer codes) and chunk indices of the staged rows, in input order."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.article = array("q")
        self.chunk_index = array("q")
        self.has_tmd = False

    def add(self, columns: list[tuple]) -> None:
        setdefault, codes = self.codes.setdefault, self.codes
        self.article.extend([setdefault(a, len(codes)) for a in columns[0]])
        self.chunk_index.extend(columns[1])
        self.has_tmd = self.has_tmd or any(c is not None for c in columns[4])

    def canonical(self) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
        """(perm, article ids, CSR offsets, chunk_index) of the canonical order.

        Python sorts str by code point, which is SQLite's BINARY / PostgreSQL's "C" order of UTF-8.
        """
        n = len(self.article)
        ids = sorted(self.codes)
        rank = np.empty(len(ids), np.int64)
        rank[np.fromiter((self.codes[a] for a in ids), np.int64, count=len(ids))] = np.arange(len(ids))
        art = rank[np.frombuffer(self.article, np.int64)] if n else np.zeros(0, np.int64)
        cidx = np.frombuffer(self.chunk_index, np.int64) if n else np.zeros(0, np.int64)
        perm = np.lexsort((np.arange(n), cidx, art)).astype(np.int64)
        offsets = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(np.bincount(art, minlength=len(ids)), out=offsets[1:])
        return perm, ids, offsets, cidx[perm].copy()


def _digest_columns(digest, columns: list[tuple]) -> None:
    """Feed one block of staged rows into the content digest, column by column (fast joins)."""
    for k, col in enumerate(columns):
        if k in _INT_COLUMNS:
            digest.update(np.array([MISSING if v is None else v for v in col], dtype=np.int64).tobytes())
        else:
            digest.update(
                "\x1f".join(["\x00" if v is None else v for v in col]).encode("utf-8", "surrogatepass")
            )
        digest.update(b"\x1e")


def _batch_from_rows(rows: list[tuple], cols: list[str], vectors: np.ndarray | None) -> ChunkBatch:
    columns = list(zip(*rows)) if rows else [() for _ in cols]
    by_name = dict(zip(cols, columns))

    def ints(name: str, dtype) -> np.ndarray | None:
        if name not in by_name:
            return None
        return np.array([MISSING if v is None else v for v in by_name[name]], dtype=dtype)

    return ChunkBatch(
        pos=np.array(by_name["pos"], dtype=np.int64),
        article_id=np.array(by_name["article_id"], dtype=object),
        chunk_index=np.array(by_name["chunk_index"], dtype=np.int64),
        text=list(by_name["text"]) if "text" in by_name else None,
        title=list(by_name["title"]) if "title" in by_name else None,
        domain_code=ints("domain_code", np.int16),
        task_code=ints("task_code", np.int16),
        modifier_code=ints("modifier_code", np.int16),
        vectors=vectors,
    )
