"""The production store: PostgreSQL with the LNSP schema (psycopg 3).

Tables (created on the first ingest when missing; existing LNSP tables are used as they are):
    cpe_entry   (cpe_id uuid PK, document_id text = article_id, sequence_index int = chunk_index,
                 concept_text text = text, title text, domain_code / task_code / modifier_code
                 smallint, dataset_source text = the dataset name, ingest_row bigint = the record's
                 row number in its ingest, the last tie-break of the canonical order)
    cpe_vectors (cpe_id uuid PK REFERENCES cpe_entry ON DELETE CASCADE, concept_vec vector(D) with
                 pgvector, real[] otherwise)
    lvmgate_datasets (name PK, encoder, dim, n_rows, meta jsonb, created_at, ingest_id): written by
                 our ingest; datasets written by other tools (no row here) are still readable.
    lvmgate_invalid_vectors (cpe_id PK, vec bytea): pgvector refuses NaN/inf, so rows kept with
                 `allow_invalid` are stored here (exact float32, pgvector's binary layout) and have
                 no cpe_vectors row.

URL: any libpq URI; `?lvmgate_vectors=pgvector|float4|auto` (stripped before connecting) forces the
vector column type when this store creates cpe_vectors (auto: pgvector when the extension exists or
can be created, else real[]).

Canonical order: ORDER BY document_id COLLATE "C", sequence_index, ingest_row, cpe_id (code-point
order of article ids, as in the embedded store; rows written by other tools have no ingest_row and
fall back to cpe_id). Reads stream through a server-side cursor in one REPEATABLE READ, READ ONLY
transaction (one consistent snapshot); vectors come as pgvector / array binary and are decoded with
numpy. Writes COPY (binary) into both tables in one transaction per ingest.

Long on purpose: one store against the LNSP schema; connection handling, binary COPY in and the
snapshot-consistent streaming reads depend on each other's transaction rules.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from tqdm.auto import tqdm

from lvmgate.corpus import ArticleIndex, ChunkBatch, ChunkRecord
from lvmgate.errors import InputError, LvmgateError, StoreError
from lvmgate.io import redact_url
from lvmgate.stores.base import DatasetInfo, IngestOptions, IngestResult, Store, check_vectors
from lvmgate.stores.embedded import _batch_from_rows

MODE_PARAM = "lvmgate_vectors"
VECTOR_MODES = ("auto", "pgvector", "float4")

# The plan's TMD distribution query (section 1.2), with the dataset as a bound parameter. The plan
# writes `ORDER BY count DESC`; the output column is named `chunks`, so that is what we order by,
# with the domain code as a deterministic tie-break (NULL, i.e. untagged rows, first).
TMD_SQL = """\
SELECT
  domain_code,
  count(*) AS chunks,
  round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct
FROM cpe_entry
WHERE dataset_source = %(dataset)s
GROUP BY domain_code
ORDER BY chunks DESC, domain_code NULLS FIRST"""

_REQUIRED = ("cpe_id", "document_id", "sequence_index", "concept_text", "dataset_source")
_OPTIONAL = {
    "title": "text",
    "domain_code": "smallint",
    "task_code": "smallint",
    "modifier_code": "smallint",
    "ingest_row": "bigint",
}
_ENTRY_DDL = """
CREATE TABLE IF NOT EXISTS cpe_entry (
    cpe_id uuid PRIMARY KEY,
    document_id text NOT NULL,
    sequence_index integer NOT NULL,
    concept_text text NOT NULL,
    title text,
    domain_code smallint,
    task_code smallint,
    modifier_code smallint,
    dataset_source text NOT NULL,
    ingest_row bigint
)"""
_META_DDL = """
CREATE TABLE IF NOT EXISTS lvmgate_datasets (
    name text PRIMARY KEY,
    encoder text,
    dim integer,
    n_rows bigint NOT NULL,
    meta jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    ingest_id text NOT NULL
)"""
_INVALID_DDL = """
CREATE TABLE IF NOT EXISTS lvmgate_invalid_vectors (
    cpe_id uuid PRIMARY KEY REFERENCES cpe_entry (cpe_id) ON DELETE CASCADE,
    vec bytea NOT NULL
)"""
_INDEX_DDL = (
    "CREATE INDEX IF NOT EXISTS lvmgate_cpe_entry_canonical ON cpe_entry "
    '(dataset_source, document_id COLLATE "C", sequence_index, ingest_row, cpe_id)'
)
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
_FLOAT4_OID = 700
_VECTOR_LOOKUP = 8192  # cpe_ids per vector lookup query


@dataclass(frozen=True)
class _Schema:
    """What the connected database holds (probed per operation; another tool may change it)."""

    entry_cols: frozenset[str]
    vec_kind: str | None  # "pgvector" | "array" | None (no cpe_vectors table)
    vec_type: str | None  # e.g. "vector(768)", "real[]"
    has_meta: bool
    has_invalid: bool

    @property
    def has_entry(self) -> bool:
        return bool(self.entry_cols)

    def col(self, name: str, alias: str = "e") -> str:
        """A column expression, or a typed NULL when another tool's cpe_entry lacks it."""
        return f"{alias}.{name}" if name in self.entry_cols else f"NULL::{_OPTIONAL[name]}"

    def order_by(self, alias: str = "e") -> str:
        keys = [f'{alias}.document_id COLLATE "C"', f"{alias}.sequence_index"]
        if "ingest_row" in self.entry_cols:
            keys.append(f"{alias}.ingest_row")
        keys.append(f"{alias}.cpe_id")
        return ", ".join(keys)

    @property
    def vec_dim_limit(self) -> int | None:
        """D of a `vector(D)` column; None when the column takes any dimension."""
        if self.vec_kind == "pgvector" and self.vec_type and "(" in self.vec_type:
            return int(self.vec_type.split("(")[1].rstrip(")"))
        return None


def split_url(url: str) -> tuple[str, str]:
    """(libpq URL without our parameters, vector mode); unknown modes raise InputError."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    mode = "auto"
    kept = []
    for key, value in query:
        if key == MODE_PARAM:
            mode = value.strip().lower() or "auto"
        else:
            kept.append((key, value))
    if mode not in VECTOR_MODES:
        raise InputError(f"{MODE_PARAM}={mode!r} in the store URL: use one of {', '.join(VECTOR_MODES)}")
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(kept, safe="/"), parts.fragment)), mode


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _translate(fn):
    """Turn psycopg errors into one-line StoreError / InputError (bad data) for the CLI."""

    @functools.wraps(fn)
    def wrapper(self: PostgresStore, *args, **kwargs):
        import psycopg

        try:
            return fn(self, *args, **kwargs)
        except LvmgateError:
            raise
        except psycopg.DataError as exc:
            raise InputError(f"PostgreSQL refused the data for {self.url}: {_one_line(exc)}") from None
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL error at {self.url}: {_one_line(exc)}") from None

    return wrapper


def _translate_gen(fn):
    """`_translate` for generator methods (errors may surface on any `next`)."""

    @functools.wraps(fn)
    def wrapper(self: PostgresStore, *args, **kwargs):
        import psycopg

        try:
            yield from fn(self, *args, **kwargs)
        except LvmgateError:
            raise
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL error at {self.url}: {_one_line(exc)}") from None

    return wrapper


class PostgresStore(Store):
    """Datasets in a PostgreSQL database with the LNSP tables; see the module doc for the layout."""

    def __init__(self, url: str, *, connect_timeout: int = 5):
        self._conninfo, self.vector_mode_requested = split_url(url)
        self.url = redact_url(url)
        self._connect_timeout = max(2, int(connect_timeout))
        self._idle: list[Any] = []
        with self._conn() as con:  # fail now, with one line, if the server is not there
            con.execute("SELECT 1")

    # -- connections -----------------------------------------------------------------------------
    def _connect(self):
        import psycopg

        try:
            return psycopg.connect(self._conninfo, autocommit=True, connect_timeout=self._connect_timeout)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.url}: {_one_line(exc)}") from None

    @contextlib.contextmanager
    def _conn(self) -> Iterator[Any]:
        """Borrow an idle connection (or open one); it goes back only if left clean."""
        from psycopg.pq import TransactionStatus

        con = self._idle.pop() if self._idle else self._connect()
        try:
            yield con
        finally:
            if not con.closed and con.info.transaction_status == TransactionStatus.IDLE:
                self._idle.append(con)
            else:
                with contextlib.suppress(Exception):
                    con.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[Any]:
        """A connection inside one REPEATABLE READ, READ ONLY transaction (a consistent snapshot)."""
        with self._conn() as con, con.transaction():
            con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield con

    def close(self) -> None:
        while self._idle:
            with contextlib.suppress(Exception):
                self._idle.pop().close()

    # -- schema ----------------------------------------------------------------------------------
    @staticmethod
    def _schema(con) -> _Schema:
        rows = con.execute(
            """
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), t.typname, t.typcategory,
                   et.typname
            FROM pg_class c
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
            WHERE c.oid IN (to_regclass('cpe_entry'), to_regclass('cpe_vectors'),
                            to_regclass('lvmgate_datasets'), to_regclass('lvmgate_invalid_vectors'))
            """
        ).fetchall()
        entry: set[str] = set()
        tables: set[str] = set()
        vec_kind = vec_type = None
        for rel, col, fmt, typname, category, elem in rows:
            tables.add(rel)
            if rel == "cpe_entry":
                entry.add(col)
            elif rel == "cpe_vectors" and col == "concept_vec":
                vec_type = fmt
                if typname == "vector":
                    vec_kind = "pgvector"
                elif category == "A" and elem in ("float4", "float8", "numeric"):
                    vec_kind = "array"
                else:
                    vec_kind = "unsupported"
        if "cpe_vectors" in tables and vec_type is None:
            vec_kind, vec_type = "unsupported", "missing"
        return _Schema(
            frozenset(entry),
            vec_kind,
            vec_type,
            "lvmgate_datasets" in tables,
            "lvmgate_invalid_vectors" in tables,
        )

    def _read_schema(self, con) -> _Schema:
        """The schema for reading: missing tables are fine, a foreign cpe_entry must have our keys."""
        schema = self._schema(con)
        if schema.has_entry:
            missing = [c for c in _REQUIRED if c not in schema.entry_cols]
            if missing:
                raise StoreError(
                    f"cpe_entry in {self.url} lacks column(s) {', '.join(missing)}: not the LNSP schema"
                )
        if schema.vec_kind == "unsupported":
            raise StoreError(
                f"cpe_vectors.concept_vec in {self.url} is {schema.vec_type}; expected pgvector "
                "vector(D) or a float array (real[] / double precision[])"
            )
        return schema

    @property
    def vector_mode(self) -> str | None:
        """How this database stores vectors: "pgvector", "float4" (a float array) or None (no table)."""
        with self._conn() as con:
            kind = self._schema(con).vec_kind
        return {"pgvector": "pgvector", "array": "float4"}.get(kind or "", kind)

    def _ensure_schema(self, con, dim: int | None) -> _Schema:
        """Create what is missing (inside the ingest transaction) and check the vector column."""
        schema = self._read_schema(con)
        if not schema.has_entry:
            con.execute(_ENTRY_DDL)
        else:
            for col, typ in _OPTIONAL.items():
                if col not in schema.entry_cols:  # additive, metadata-only in PostgreSQL >= 11
                    con.execute(f"ALTER TABLE cpe_entry ADD COLUMN IF NOT EXISTS {col} {typ}")
        # only what is missing: IF NOT EXISTS still wants ownership of an existing table
        if con.execute("SELECT to_regclass('lvmgate_cpe_entry_canonical')").fetchone()[0] is None:
            con.execute(_INDEX_DDL)
        if not schema.has_meta:
            con.execute(_META_DDL)
        if dim is not None:
            mode = self.vector_mode_requested
            if schema.vec_kind is None:
                if mode in ("auto", "pgvector"):
                    if self._create_pgvector(con):
                        mode = "pgvector"
                    elif mode == "pgvector":
                        raise StoreError(
                            f"{MODE_PARAM}=pgvector but the pgvector extension is not available in "
                            f"{self.url} (install it, or use {MODE_PARAM}=float4)"
                        )
                    else:
                        mode = "float4"
                column = f"vector({dim})" if mode == "pgvector" else "real[]"
                con.execute(
                    "CREATE TABLE cpe_vectors (cpe_id uuid PRIMARY KEY REFERENCES cpe_entry (cpe_id) "
                    f"ON DELETE CASCADE, concept_vec {column})"
                )
                if mode == "float4":  # random floats never compress: skip the attempt
                    con.execute("ALTER TABLE cpe_vectors ALTER COLUMN concept_vec SET STORAGE EXTERNAL")
            else:
                have = "pgvector" if schema.vec_kind == "pgvector" else "float4"
                if mode != "auto" and mode != have:
                    raise StoreError(
                        f"{MODE_PARAM}={mode} but cpe_vectors.concept_vec in {self.url} is already "
                        f"{schema.vec_type}; use another database or drop the LNSP tables"
                    )
            schema = self._schema(con)
            limit = schema.vec_dim_limit
            if limit is not None and limit != dim:
                raise InputError(
                    f"cpe_vectors.concept_vec in {self.url} is {schema.vec_type}: cannot store {dim}-D "
                    "vectors there (use another database for this encoder)"
                )
            if schema.vec_kind == "pgvector" and not schema.has_invalid:
                con.execute(_INVALID_DDL)
        return self._schema(con)

    @staticmethod
    def _create_pgvector(con) -> bool:
        import psycopg

        if con.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
            return True
        try:
            with con.transaction():  # a savepoint: a refused CREATE EXTENSION must not end the ingest
                con.execute("CREATE EXTENSION IF NOT EXISTS vector")
            return True
        except psycopg.Error:
            return False

    # -- reading ---------------------------------------------------------------------------------
    @_translate
    def datasets(self) -> list[str]:
        with self._read() as con:
            return self._datasets(con, self._read_schema(con))

    @staticmethod
    def _datasets(con, schema: _Schema) -> list[str]:
        names: set[str] = set()
        if schema.has_meta:
            names.update(r[0] for r in con.execute("SELECT name FROM lvmgate_datasets"))
        if schema.has_entry:
            # loose index scan: one index probe per distinct dataset instead of a full scan
            names.update(
                r[0]
                for r in con.execute(
                    """
                    WITH RECURSIVE d(name) AS (
                        (SELECT dataset_source FROM cpe_entry WHERE dataset_source IS NOT NULL
                         ORDER BY dataset_source LIMIT 1)
                        UNION ALL
                        SELECT (SELECT dataset_source FROM cpe_entry WHERE dataset_source > d.name
                                ORDER BY dataset_source LIMIT 1)
                        FROM d WHERE d.name IS NOT NULL
                    )
                    SELECT name FROM d WHERE name IS NOT NULL
                    """
                )
            )
        return sorted(names)

    @_translate
    def has_dataset(self, dataset: str) -> bool:
        with self._read() as con:
            return self._exists(con, self._read_schema(con), dataset)

    @staticmethod
    def _exists(con, schema: _Schema, dataset: str) -> bool:
        if (
            schema.has_meta
            and con.execute("SELECT 1 FROM lvmgate_datasets WHERE name = %s", (dataset,)).fetchone()
        ):
            return True
        return bool(
            schema.has_entry
            and con.execute(
                "SELECT 1 FROM cpe_entry WHERE dataset_source = %s LIMIT 1", (dataset,)
            ).fetchone()
        )

    def _require_exists(self, con, schema: _Schema, dataset: str) -> None:
        if not self._exists(con, schema, dataset):
            if not schema.has_entry:
                raise StoreError(
                    f"unknown dataset {dataset!r}: {self.url} has no cpe_entry table (not an LNSP "
                    "database, or nothing ingested yet)"
                )
            known = ", ".join(self._datasets(con, schema)) or "none"
            raise InputError(f"unknown dataset {dataset!r} in {self.url} (datasets: {known})")

    def _meta_row(self, con, schema: _Schema, dataset: str) -> tuple | None:
        if not schema.has_meta:
            return None
        return con.execute(
            "SELECT encoder, dim, n_rows, meta, ingest_id FROM lvmgate_datasets WHERE name = %s", (dataset,)
        ).fetchone()

    def _dim(self, con, schema: _Schema, dataset: str, meta_row: tuple | None) -> int | None:
        if meta_row is not None:
            return meta_row[1]
        if schema.vec_kind is None:
            return None
        expr = (
            "vector_dims(v.concept_vec)"
            if schema.vec_kind == "pgvector"
            else "array_length(v.concept_vec, 1)"
        )
        row = con.execute(
            f"SELECT {expr} FROM cpe_entry e JOIN cpe_vectors v ON v.cpe_id = e.cpe_id "
            "WHERE e.dataset_source = %s AND v.concept_vec IS NOT NULL LIMIT 1",
            (dataset,),
        ).fetchone()
        return None if row is None else int(row[0])

    @_translate
    def info(self, dataset: str) -> DatasetInfo:
        with self._read() as con:
            schema = self._read_schema(con)
            self._require_exists(con, schema, dataset)
            meta_row = self._meta_row(con, schema, dataset)
            n_rows, n_articles, has_tmd, row_hash = con.execute(
                f"""
                SELECT count(*), count(DISTINCT e.document_id), coalesce(bool_or({schema.col("domain_code")}
                       IS NOT NULL), false),
                       coalesce(sum(hashtextextended(concat_ws(chr(31), e.document_id, e.sequence_index,
                           {schema.col("ingest_row")}, {schema.col("domain_code")}, {schema.col("task_code")},
                           {schema.col("modifier_code")}, md5(e.concept_text), md5({schema.col("title")})), 7)),
                           0)::text
                FROM cpe_entry e WHERE e.dataset_source = %s
                """,
                (dataset,),
            ).fetchone()
            vec_state = "none"
            if schema.vec_kind is not None:
                # xmin changes whenever a row is rewritten: catches vectors updated by other tools
                # without reading (detoasting) a single vector
                vec_state = ":".join(
                    str(x)
                    for x in con.execute(
                        "SELECT count(*), coalesce(sum(v.xmin::text::bigint), 0) FROM cpe_entry e "
                        "JOIN cpe_vectors v ON v.cpe_id = e.cpe_id WHERE e.dataset_source = %s",
                        (dataset,),
                    ).fetchone()
                )
            dim = self._dim(con, schema, dataset, meta_row)
        ingest_id = meta_row[4] if meta_row else ""
        digest = hashlib.blake2b(
            f"pg1|{n_rows}|{row_hash}|{vec_state}|{dim}|{ingest_id}".encode(), digest_size=16
        ).hexdigest()
        encoder, meta = (meta_row[0], dict(meta_row[3] or {})) if meta_row else (None, {})
        if not meta_row:
            meta = {"written_by": "another tool (no lvmgate_datasets row)"}
        return DatasetInfo(dataset, int(n_rows), int(n_articles), dim, encoder, digest, bool(has_tmd), meta)

    @_translate
    def articles(self, dataset: str) -> ArticleIndex:
        with self._read() as con:
            schema = self._read_schema(con)
            self._require_exists(con, schema, dataset)
            if not schema.has_entry:
                return ArticleIndex(np.zeros(0, object), np.zeros(1, np.int64), np.zeros(0, np.int64))
            groups = con.execute(
                'SELECT document_id COLLATE "C", count(*) FROM cpe_entry WHERE dataset_source = %s '
                "GROUP BY 1 ORDER BY 1",
                (dataset,),
            ).fetchall()
            (blob,) = con.execute(
                f"SELECT array_send(array_agg(e.sequence_index::int4 ORDER BY {schema.order_by()})) "
                "FROM cpe_entry e WHERE e.dataset_source = %s",
                (dataset,),
            ).fetchone()
        ids = np.array([g[0] for g in groups], dtype=object)
        offsets = np.zeros(len(groups) + 1, np.int64)
        np.cumsum([g[1] for g in groups], out=offsets[1:])
        chunk_index = _decode_int4_array(blob)
        if len(chunk_index) != offsets[-1]:
            raise StoreError(f"dataset {dataset!r} changed while it was read; retry")
        return ArticleIndex(ids, offsets, chunk_index)

    @_translate
    def domain_counts(self, dataset: str) -> list[tuple[int | None, int]]:
        return [(code, n) for code, n, _pct in self.tmd_distribution(dataset)]

    @_translate
    def tmd_distribution(self, dataset: str) -> list[tuple[int | None, int, float]]:
        """Rows of the plan's TMD query (`TMD_SQL`): (domain_code, chunks, pct), largest first."""
        with self._read() as con:
            schema = self._read_schema(con)
            self._require_exists(con, schema, dataset)
            if not schema.has_entry:
                return []
            if "domain_code" not in schema.entry_cols:
                sql = TMD_SQL.replace("domain_code,", "NULL::smallint AS domain_code,", 1)
            else:
                sql = TMD_SQL
            rows = con.execute(sql, {"dataset": dataset}).fetchall()
        return [(code, int(n), float(pct)) for code, n, pct in rows]

    @_translate
    def vectors(self, dataset: str, rows: np.ndarray | None = None) -> np.ndarray:
        """(N, D) float32 in canonical order, materialised in memory (1M x 768 is 3 GB).

        Rows without a stored vector (possible only in data written by other tools) come back NaN.
        """
        info_dim, n = self._dim_and_count(dataset, rows)
        out = np.empty((n, info_dim), np.float32)
        filled = 0
        for batch in self.iter_batches(dataset, rows=rows, text=False, tmd=False):
            out[filled : filled + len(batch)] = batch.vectors
            filled += len(batch)
        if filled != n:
            raise StoreError(f"dataset {dataset!r} changed while it was read; retry")
        return out

    def _dim_and_count(self, dataset: str, rows: np.ndarray | None) -> tuple[int, int]:
        with self._read() as con:
            schema = self._read_schema(con)
            self._require_exists(con, schema, dataset)
            dim = self._dim(con, schema, dataset, self._meta_row(con, schema, dataset))
            if dim is None:
                raise InputError(
                    f"dataset {dataset!r} has no vectors (ingest it with --vectors or --encoder)"
                )
            if rows is not None:
                return dim, len(rows)
            n = con.execute("SELECT count(*) FROM cpe_entry WHERE dataset_source = %s", (dataset,)).fetchone()
            return dim, int(n[0]) if schema.has_entry else 0

    @_translate_gen
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
        batch_size = max(1, int(batch_size))
        with self._read() as con:
            schema = self._read_schema(con)
            self._require_exists(con, schema, dataset)
            if not schema.has_entry:
                return
            dim = self._dim(con, schema, dataset, self._meta_row(con, schema, dataset))
            want_vectors = vectors and dim is not None and schema.vec_kind is not None
            cols = ["pos", "article_id", "chunk_index"]
            select = ["e.document_id", "e.sequence_index"]
            if text:
                cols += ["text", "title"]
                select += ["e.concept_text", schema.col("title")]
            if tmd:
                cols += ["domain_code", "task_code", "modifier_code"]
                select += [schema.col(c) for c in ("domain_code", "task_code", "modifier_code")]
            if want_vectors:
                select.append("e.cpe_id")
            if rows is None:
                sql = (
                    f"SELECT {', '.join(select)} FROM cpe_entry e WHERE e.dataset_source = %(dataset)s "
                    f"ORDER BY {schema.order_by()}"
                )
                params: dict[str, Any] = {"dataset": dataset}
            else:
                rows = np.asarray(rows, dtype=np.int64)
                n_rows = con.execute(
                    "SELECT count(*) FROM cpe_entry WHERE dataset_source = %s", (dataset,)
                ).fetchone()[0]
                if rows.size and (np.any(np.diff(rows) <= 0) or rows[0] < 0 or rows[-1] >= n_rows):
                    raise ValueError("rows must be strictly increasing positions inside the dataset")
                if rows.size == 0:
                    return
                sql = (
                    f"WITH o AS (SELECT e.cpe_id, row_number() OVER (ORDER BY {schema.order_by()}) - 1 AS pos "
                    "FROM cpe_entry e WHERE e.dataset_source = %(dataset)s), "
                    "r AS (SELECT unnest(%(rows)s::bigint[]) AS pos) "
                    f"SELECT o.pos, {', '.join(select)} FROM r JOIN o ON o.pos = r.pos "
                    "JOIN cpe_entry e ON e.cpe_id = o.cpe_id ORDER BY o.pos"
                )
                params = {"dataset": dataset, "rows": rows.tolist()}
            with con.cursor(name=f"lvmgate_{secrets.token_hex(4)}", binary=True) as cur:
                cur.itersize = min(batch_size, 20000)
                cur.execute(sql, params)
                start = 0
                while True:
                    got = cur.fetchmany(batch_size)
                    if not got:
                        break
                    vec = None
                    if want_vectors:
                        ids = [r[-1] for r in got]
                        got = [r[:-1] for r in got]
                        vec = self._fetch_vectors(con, schema, ids, dim)
                    if rows is None:
                        got = [(start + i, *r) for i, r in enumerate(got)]
                        start += len(got)
                    yield _batch_from_rows(got, cols, vec)

    def _fetch_vectors(self, con, schema: _Schema, ids: list, dim: int) -> np.ndarray:
        """Vectors of the given cpe_ids, in that order; rows without a vector are NaN."""
        out = np.empty((len(ids), dim), dtype=np.float32)
        filled = np.zeros(len(ids), dtype=bool)
        if schema.vec_kind == "pgvector":
            expr = "vector_send(concept_vec)"
        elif schema.vec_type == "real[]":
            expr = "array_send(concept_vec)"
        else:
            expr = "array_send(concept_vec::real[])"
        for lo in range(0, len(ids), _VECTOR_LOOKUP):
            part = ids[lo : lo + _VECTOR_LOOKUP]
            where = {cid: lo + i for i, cid in enumerate(part)}
            found = con.execute(
                f"SELECT cpe_id, {expr} FROM cpe_vectors WHERE cpe_id = ANY(%s) AND concept_vec IS NOT NULL",
                (part,),
                binary=True,
            ).fetchall()
            kind = "pgvector" if schema.vec_kind == "pgvector" else "array"
            if schema.has_invalid and len(found) < len(part):
                found += con.execute(
                    "SELECT cpe_id, vec FROM lvmgate_invalid_vectors WHERE cpe_id = ANY(%s)",
                    (part,),
                    binary=True,
                ).fetchall()
            if not found:
                continue
            target = np.fromiter((where[r[0]] for r in found), dtype=np.int64, count=len(found))
            out[target] = _decode_vectors([r[1] for r in found], kind, dim)
            filled[target] = True
        out[~filled] = np.nan
        return out

    # -- writing ---------------------------------------------------------------------------------
    @_translate
    def _ingest(
        self, dataset: str, records: Iterable[ChunkRecord], vectors: np.ndarray | None, opts: IngestOptions
    ) -> IngestResult:
        t0 = time.perf_counter()
        dim = None
        if vectors is not None:
            # shape and NaN/zero rows first (fail before any row is sent); the count after the records
            check_vectors(vectors, vectors.shape[0] if vectors.ndim else 0, allow_invalid=opts.allow_invalid)
            dim = int(vectors.shape[1])
        with self._conn() as con, con.transaction():
            con.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("lvmgate.ingest:" + dataset,)
            )
            schema = self._ensure_schema(con, dim)
            existed = self._exists(con, schema, dataset)
            if existed and not opts.replace:
                self.refuse_existing(dataset)
            if existed:
                con.execute("DELETE FROM cpe_entry WHERE dataset_source = %s", (dataset,))
                con.execute("DELETE FROM lvmgate_datasets WHERE name = %s", (dataset,))
            ids, n_rows = self._copy_entries(con, dataset, records, progress=opts.progress)
            if vectors is not None:
                if vectors.shape[0] != n_rows:
                    check_vectors(vectors, n_rows, allow_invalid=True)  # raises the count message
                self._copy_vectors(
                    con, schema, ids, vectors, progress=opts.progress, desc=f"vectors {dataset}"
                )
            n_articles = con.execute(
                "SELECT count(DISTINCT document_id) FROM cpe_entry WHERE dataset_source = %s", (dataset,)
            ).fetchone()[0]
            con.execute(
                "INSERT INTO lvmgate_datasets (name, encoder, dim, n_rows, meta, ingest_id) "
                "VALUES (%s, %s, %s, %s, %s::jsonb, %s)",
                (dataset, opts.encoder, dim, n_rows, json.dumps(opts.meta), secrets.token_hex(8)),
            )
        return IngestResult(dataset, n_rows, int(n_articles), dim, time.perf_counter() - t0, existed)

    @staticmethod
    def _copy_entries(
        con, dataset: str, records: Iterable[ChunkRecord], *, progress: bool
    ) -> tuple[bytes, int]:
        """COPY records into cpe_entry; returns the new cpe_ids (16 bytes each, input order) and N."""
        ids = bytearray()
        n_rows = 0
        bar = tqdm(desc=f"ingest {dataset}", unit=" chunks", disable=not progress)
        rows_iter = iter(records)
        with (
            con.cursor() as cur,
            cur.copy(
                "COPY cpe_entry (cpe_id, document_id, sequence_index, concept_text, title, domain_code, "
                "task_code, modifier_code, dataset_source, ingest_row) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            # cpe_id goes as its 16 raw bytes: binary COPY hands them to uuid_recv unchanged
            copy.set_types(["bytea", "text", "int4", "text", "text", "int2", "int2", "int2", "text", "int8"])
            write = copy.write_row
            while True:
                block = list(itertools.islice(rows_iter, 20000))
                if not block:
                    break
                new = _uuid4_block(len(block))
                ids += new
                for i, r in enumerate(block):
                    write(
                        (
                            new[16 * i : 16 * i + 16],
                            r.article_id,
                            r.chunk_index,
                            r.text,
                            r.title,
                            r.domain_code,
                            r.task_code,
                            r.modifier_code,
                            dataset,
                            n_rows + i,
                        )
                    )
                n_rows += len(block)
                bar.update(len(block))
        bar.close()
        return bytes(ids), n_rows

    @staticmethod
    def _copy_vectors(
        con, schema: _Schema, ids: bytes, vectors: np.ndarray, *, progress: bool, desc: str
    ) -> None:
        """COPY vectors (binary, built with numpy); pgvector-refused rows go to lvmgate_invalid_vectors."""
        n, dim = vectors.shape
        uid = np.frombuffer(ids, dtype="V16")
        pgvector = schema.vec_kind == "pgvector"
        cast = schema.vec_type not in ("real[]",) and not pgvector
        if cast:
            raise StoreError(
                f"cpe_vectors.concept_vec is {schema.vec_type}: lvmgate writes pgvector or real[] columns only"
            )
        block = max(1, (32 << 20) // (8 * dim))
        invalid: list[tuple[int, np.ndarray]] = []
        with (
            con.cursor() as cur,
            cur.copy("COPY cpe_vectors (cpe_id, concept_vec) FROM STDIN (FORMAT BINARY)") as copy,
            tqdm(total=n, desc=desc, unit=" vec", disable=not progress) as bar,
        ):
            copy.write(_COPY_SIGNATURE)
            for lo in range(0, n, block):
                hi = min(lo + block, n)
                part = np.asarray(vectors[lo:hi], dtype=np.float32)
                keep = np.arange(lo, hi)
                if pgvector:
                    finite = np.isfinite(part).all(axis=1)
                    if not finite.all():
                        invalid += [(int(i), part[i - lo]) for i in keep[~finite]]
                        part, keep = part[finite], keep[finite]
                copy.write(_encode_vector_rows(uid[keep], part, pgvector).tobytes())
                bar.update(hi - lo)
            copy.write(_COPY_TRAILER)
        if invalid:
            with cur_copy(
                con, "COPY lvmgate_invalid_vectors (cpe_id, vec) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["bytea", "bytea"])
                for i, row in invalid:
                    copy.write_row((ids[16 * i : 16 * i + 16], _pgvector_send(row)))

    @_translate
    def delete(self, dataset: str) -> None:
        with self._conn() as con, con.transaction():
            schema = self._read_schema(con)
            self._require_exists(con, schema, dataset)
            con.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("lvmgate.ingest:" + dataset,)
            )
            if schema.has_entry:
                con.execute("DELETE FROM cpe_entry WHERE dataset_source = %s", (dataset,))
            if schema.has_meta:
                con.execute("DELETE FROM lvmgate_datasets WHERE name = %s", (dataset,))

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"


@contextlib.contextmanager
def cur_copy(con, statement: str) -> Iterator[Any]:
    """A COPY block on a fresh cursor."""
    with con.cursor() as cur, cur.copy(statement) as copy:
        yield copy


# -- binary formats ----------------------------------------------------------------------------------
def _uuid4_block(n: int) -> bytes:
    """n random version-4 UUIDs, 16 bytes each."""
    raw = np.frombuffer(bytearray(os.urandom(16 * n)), dtype=np.uint8).reshape(n, 16)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return raw.tobytes()


def _encode_vector_rows(uid: np.ndarray, vectors: np.ndarray, pgvector: bool) -> np.ndarray:
    """Binary COPY tuples (cpe_id, concept_vec) for a block, as one structured array."""
    n, dim = vectors.shape
    if pgvector:  # vector_recv: int16 dim, int16 unused, dim x float4 (network order)
        payload = [("dim", ">i2"), ("unused", ">i2"), ("v", ">f4", (dim,))]
        size = 4 + 4 * dim
    else:  # array_recv: ndim, has-null flag, element oid, length, lower bound, (len, float4) pairs
        payload = [("ndim", ">i4"), ("flags", ">i4"), ("oid", ">i4"), ("len", ">i4"), ("lb", ">i4")]
        payload += [("v", [("n", ">i4"), ("x", ">f4")], (dim,))]
        size = 20 + 8 * dim
    dt = np.dtype([("nf", ">i2"), ("l1", ">i4"), ("id", "V16"), ("l2", ">i4"), *payload])
    out = np.empty(n, dtype=dt)
    out["nf"], out["l1"], out["id"], out["l2"] = 2, 16, uid, size
    if pgvector:
        out["dim"], out["unused"], out["v"] = dim, 0, vectors
    else:
        out["ndim"], out["flags"], out["oid"], out["len"], out["lb"] = 1, 0, _FLOAT4_OID, dim, 1
        out["v"]["n"], out["v"]["x"] = 4, vectors
    return out


def _pgvector_send(row: np.ndarray) -> bytes:
    """One vector in pgvector's binary layout (kept for rows pgvector itself refuses)."""
    dim = len(row)
    return dim.to_bytes(2, "big") + b"\x00\x00" + np.asarray(row, dtype=">f4").tobytes()


def _decode_vectors(payloads: Sequence[bytes], kind: str, dim: int) -> np.ndarray:
    """Decode pgvector / float4-array binary values into an (n, dim) float32 array."""
    n = len(payloads)
    header = 4 if kind == "pgvector" else 20
    step = 4 if kind == "pgvector" else 8
    size = header + step * dim
    if all(len(p) == size for p in payloads):
        buf = b"".join(payloads)
        if kind == "pgvector":
            return np.frombuffer(buf, ">f4").reshape(n, dim + 1)[:, 1:].astype(np.float32)
        words = np.frombuffer(buf, ">i4").reshape(n, 5 + 2 * dim)
        if np.any(words[:, 0] != 1) or np.any(words[:, 1] != 0) or np.any(words[:, 5::2] != 4):
            return np.stack([_decode_one(p, kind, dim) for p in payloads])
        return words.view(">f4")[:, 6::2].astype(np.float32)
    return np.stack([_decode_one(p, kind, dim) for p in payloads])


def _decode_one(p: bytes, kind: str, dim: int) -> np.ndarray:
    """Slow path for one value: arrays with NULL elements, or a dimension that disagrees."""
    if kind == "pgvector":
        got = int.from_bytes(p[:2], "big")
        if got != dim:
            raise StoreError(f"vectors of different dimensions in one dataset ({got} and {dim})")
        return np.frombuffer(p, ">f4", offset=4).astype(np.float32)
    ndim = int.from_bytes(p[:4], "big")
    if ndim == 0:
        raise StoreError(f"an empty vector array in a dataset of {dim}-D vectors")
    length = int.from_bytes(p[12:16], "big")
    if ndim != 1 or length != dim:
        raise StoreError(f"vectors of different dimensions in one dataset ({length} and {dim})")
    out = np.full(dim, np.nan, np.float32)
    at = 20
    for i in range(dim):
        size = int.from_bytes(p[at : at + 4], "big", signed=True)
        at += 4
        if size == 4:
            out[i] = np.frombuffer(p, ">f4", count=1, offset=at)[0]
            at += 4
    return out


def _decode_int4_array(blob: bytes | None) -> np.ndarray:
    """array_send() of a 1-D int4 array without NULLs -> int64 numpy array."""
    if blob is None or int.from_bytes(blob[:4], "big") == 0:
        return np.zeros(0, np.int64)
    words = np.frombuffer(blob, ">i4", offset=20)
    return words[1::2].astype(np.int64)
