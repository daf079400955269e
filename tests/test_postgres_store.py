"""PostgreSQL-specific behaviour: connection errors, URLs, data written by another tool in the LNSP
schema, the plan's TMD query, vector modes, snapshot reads and read-only access."""

from __future__ import annotations

import socket
import time
import uuid

import numpy as np
import psycopg
import pytest

from lvmgate.corpus import MISSING, ChunkRecord
from lvmgate.errors import InputError, StoreError
from lvmgate.io import redact_url
from lvmgate.stores import open_store
from lvmgate.stores.postgres import TMD_SQL, PostgresStore, split_url
from lvmgate.testing.pg import pg_db_url, pg_url, server_has_pgvector, with_database  # noqa: F401

pytestmark = pytest.mark.postgres


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: nothing listens there


def _records(n_articles: int = 3, per: int = 4, dim: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    recs = [
        ChunkRecord(f"doc-{a}", i, f"text {a}.{i}", f"Title {a}", a % 3, 1, 2)
        for a in reversed(range(n_articles))
        for i in range(per)
    ]
    return recs, rng.standard_normal((len(recs), dim)).astype(np.float32)


# -- connecting ----------------------------------------------------------------------------------
def test_unreachable_server_is_one_line_store_error_quickly():
    url = f"postgresql://lvm:secret-pw@127.0.0.1:{_closed_port()}/lnsp"
    t0 = time.monotonic()
    with pytest.raises(StoreError) as err:
        open_store(url)
    assert time.monotonic() - t0 < 5
    msg = str(err.value)
    assert "\n" not in msg and "cannot connect" in msg
    assert "secret-pw" not in msg and "lvm:***@127.0.0.1" in msg
    assert err.value.exit_code == 2


def test_missing_database_and_unknown_role_are_store_errors(pg_url):  # noqa: F811
    with pytest.raises(StoreError, match="does not exist"):
        PostgresStore(with_database(pg_url, "no_such_database_here"))
    bad_role = pg_url.replace("postgres:@", "no_such_role:@").replace("postgres@", "no_such_role@")
    with pytest.raises(StoreError, match="no_such_role"):
        PostgresStore(bad_role)


def test_url_parameters():
    plain, mode = split_url("postgres://u:p@h:5/db?sslmode=disable&lvmgate_vectors=float4")
    assert mode == "float4" and "lvmgate_vectors" not in plain and "sslmode=disable" in plain
    assert plain.startswith("postgresql://")
    assert split_url("postgresql://h/db")[1] == "auto"
    with pytest.raises(InputError, match="lvmgate_vectors"):
        split_url("postgresql://h/db?lvmgate_vectors=halfvec")
    assert redact_url("postgresql://u:p@h/db") == "postgresql://u:***@h/db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_empty_database_reads_cleanly(pg_db_url):  # noqa: F811
    store = PostgresStore(pg_db_url)
    assert store.datasets() == [] and not store.has_dataset("x") and store.vector_mode is None
    with pytest.raises(StoreError, match="no cpe_entry table"):
        store.info("wiki")


def test_foreign_cpe_entry_without_our_columns_is_a_store_error(pg_db_url):  # noqa: F811
    with psycopg.connect(pg_db_url, autocommit=True) as con:
        con.execute("CREATE TABLE cpe_entry (cpe_id uuid PRIMARY KEY, concept_text text)")
    with pytest.raises(StoreError, match=r"lacks column.*document_id"):
        PostgresStore(pg_db_url).datasets()


# -- data written by another tool ----------------------------------------------------------------
LNSP_DDL = """
CREATE TABLE cpe_entry (
    cpe_id uuid PRIMARY KEY,
    mission_text text,
    source_chunk text,
    concept_text text NOT NULL,
    probe_question text,
    domain_code smallint,
    task_code smallint,
    modifier_code smallint,
    content_type text,
    dataset_source text NOT NULL,
    document_id text,
    sequence_index integer,
    tmd_bits integer,
    created_at timestamptz DEFAULT now()
);
CREATE TABLE cpe_vectors (
    cpe_id uuid PRIMARY KEY REFERENCES cpe_entry (cpe_id) ON DELETE CASCADE,
    fused_vec {vec},
    concept_vec {vec}
);
"""


def _foreign_rows():
    """(cpe_id, document_id, sequence_index, text, domain) rows in a scrambled insertion order,
    with a duplicated (document, index) key that only cpe_id can order."""
    ids = [uuid.UUID(int=k * 7919 + 1) for k in range(9)]
    rows = [
        (ids[0], "B-article", 1, "B one", 3),
        (ids[1], "a-article", 0, "a zero", None),
        (ids[2], "B-article", 0, "B zero", 3),
        (ids[3], "a-article", 2, "a two", 0),
        (ids[4], "a-article", 1, "a one (second copy)", 0),
        (ids[5], "a-article", 1, "a one (first copy)", 0),
        (ids[6], "Émile", 0, "E zero", 5),
        (ids[7], "other_ds", 0, "not ours", 1),
    ]
    want = sorted([r for r in rows if r[1] != "other_ds"], key=lambda r: (r[1], r[2], r[0].bytes))
    return rows, want


@pytest.mark.parametrize("vec_type", ["vector(4)", "double precision[]", "real[]"])
def test_reads_dataset_written_by_another_tool(pg_db_url, vec_type):  # noqa: F811
    if vec_type.startswith("vector") and not server_has_pgvector(pg_db_url):
        pytest.skip("no pgvector on this server")
    rows, want = _foreign_rows()
    with psycopg.connect(pg_db_url, autocommit=True) as con:
        if vec_type.startswith("vector"):
            con.execute("CREATE EXTENSION IF NOT EXISTS vector")
        con.execute(LNSP_DDL.format(vec=vec_type))
        for cid, doc, seq, text, dom in rows:
            con.execute(
                "INSERT INTO cpe_entry (cpe_id, concept_text, domain_code, task_code, modifier_code, "
                "dataset_source, document_id, sequence_index, tmd_bits) VALUES (%s,%s,%s,7,9,%s,%s,%s,0)",
                (cid, text, dom, "other" if doc == "other_ds" else "wikipedia_500k", doc, seq),
            )
            if text != "E zero":  # one row has no vector at all
                vec = [float(seq), float(len(text)), 0.5, -1.0]
                con.execute(
                    f"INSERT INTO cpe_vectors (cpe_id, concept_vec) VALUES (%s, %s::text::{vec_type})",
                    (
                        cid,
                        str(vec).replace(" ", "")
                        if vec_type.startswith("vector")
                        else "{" + str(vec)[1:-1] + "}",
                    ),
                )
    store = PostgresStore(pg_db_url)
    assert store.datasets() == ["other", "wikipedia_500k"]
    info = store.info("wikipedia_500k")
    assert (info.n_rows, info.n_articles, info.dim, info.encoder, info.has_tmd) == (7, 3, 4, None, True)
    assert "another tool" in info.meta["written_by"]
    (batch,) = list(store.iter_batches("wikipedia_500k"))
    assert batch.pos.tolist() == list(range(7))
    assert list(batch.article_id) == [r[1] for r in want]
    assert batch.chunk_index.tolist() == [r[2] for r in want]
    assert batch.text == [r[3] for r in want]
    assert batch.title == [None] * 7  # the LNSP table has no title column
    assert batch.domain_code.tolist() == [MISSING if r[4] is None else r[4] for r in want]
    assert set(batch.task_code.tolist()) == {7}
    vec = store.vectors("wikipedia_500k")
    for i, r in enumerate(want):
        if r[3] == "E zero":
            assert np.isnan(vec[i]).all()  # no stored vector -> NaN row, flagged by the gates
        else:
            np.testing.assert_array_equal(vec[i], np.array([r[2], len(r[3]), 0.5, -1.0], np.float32))
    index = store.articles("wikipedia_500k")
    assert list(index.ids) == ["B-article", "a-article", "Émile"] and index.offsets.tolist() == [0, 2, 6, 7]
    assert store.domain_counts("wikipedia_500k") == [(0, 3), (3, 2), (None, 1), (5, 1)]
    assert store.texts("wikipedia_500k", [6, 0]) == ["E zero", "B zero"]
    # lvmgate can write next to the foreign data (adds its columns, leaves the other rows alone)
    recs, _ = _records(dim=4)
    if vec_type == "double precision[]":
        with pytest.raises(StoreError, match="double precision"):
            store.ingest("mine", recs, np.ones((len(recs), 4), np.float32))
        store.ingest("mine", recs)
    else:
        store.ingest("mine", recs, np.ones((len(recs), 4), np.float32))
    assert store.datasets() == ["mine", "other", "wikipedia_500k"]
    assert next(b.text for b in store.iter_batches("wikipedia_500k")) == [r[3] for r in want]


# -- the plan's TMD query ----------------------------------------------------------------------------
def test_tmd_sql_is_the_plans_query_with_a_bound_dataset(pg_db_url):  # noqa: F811
    assert "sum(count(*)) OVER ()" in TMD_SQL and "GROUP BY domain_code" in TMD_SQL
    assert "%(dataset)s" in TMD_SQL and "wikipedia_500k" not in TMD_SQL
    codes = [0] * 50 + [1] * 30 + [2] * 13 + [None] * 7
    recs = [ChunkRecord(f"d{i // 10}", i % 10, "t", None, c) for i, c in enumerate(codes)]
    store = PostgresStore(pg_db_url)
    store.ingest("wikipedia_500k", recs)
    store.ingest("noise", [ChunkRecord("x", 0, "t", None, 2)] * 5)  # other datasets do not count
    rows = store.tmd_distribution("wikipedia_500k")
    assert rows == [(0, 50, 50.0), (1, 30, 30.0), (2, 13, 13.0), (None, 7, 7.0)]
    assert store.domain_counts("wikipedia_500k") == [(c, n) for c, n, _ in rows]
    # the plan's own text (dataset inlined, as in its psql heredoc) gives the same numbers
    plan_sql = TMD_SQL.replace("%(dataset)s", "'wikipedia_500k'")
    with psycopg.connect(pg_db_url) as con:
        assert [(c, n, float(p)) for c, n, p in con.execute(plan_sql)] == rows
    # a name that would break naive string formatting is just a value
    assert store.has_dataset("x'; DROP TABLE cpe_entry; --") is False
    assert store.datasets() == ["noise", "wikipedia_500k"]


def test_tmd_percentages_round_like_the_plan(pg_db_url):  # noqa: F811
    codes = [4] * 2 + [5] * 1
    store = PostgresStore(pg_db_url)
    store.ingest("t", [ChunkRecord("a", i, "x", None, c) for i, c in enumerate(codes)])
    assert store.tmd_distribution("t") == [(4, 2, 66.67), (5, 1, 33.33)]


# -- reading is read-only --------------------------------------------------------------------------
def test_reads_work_for_a_select_only_role(pg_db_url):  # noqa: F811
    recs, vecs = _records()
    PostgresStore(pg_db_url).ingest("wiki", recs, vecs, encoder="e")
    with psycopg.connect(pg_db_url, autocommit=True) as con:
        con.execute("DROP ROLE IF EXISTS lvm_reader")
        con.execute("CREATE ROLE lvm_reader LOGIN")
        schema = con.execute("SELECT current_schema()").fetchone()[0]
        con.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO lvm_reader')
        con.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO lvm_reader')
    reader_url = pg_db_url.replace("postgres:@", "lvm_reader:@").replace("postgres@", "lvm_reader@")
    try:
        reader = PostgresStore(reader_url)
        assert reader.datasets() == ["wiki"]
        assert reader.info("wiki").n_rows == len(recs)
        assert reader.domain_counts("wiki")
        assert reader.articles("wiki").n_articles == 3
        np.testing.assert_array_equal(
            reader.vectors("wiki")[:4], vecs[-4:][np.argsort([r.chunk_index for r in recs[-4:]])]
        )
        with pytest.raises(StoreError, match="permission denied"):
            reader.ingest("mine", recs, vecs)
        reader.close()
    finally:
        with psycopg.connect(pg_db_url, autocommit=True) as con:
            con.execute("DROP OWNED BY lvm_reader")
            con.execute("DROP ROLE lvm_reader")


# -- writing ---------------------------------------------------------------------------------------
def test_replace_is_atomic_for_a_reader_mid_stream(pg_db_url):  # noqa: F811
    old, old_vec = _records(n_articles=4, per=5, seed=1)
    new, new_vec = _records(n_articles=2, per=3, seed=2)
    writer, reader = PostgresStore(pg_db_url), PostgresStore(pg_db_url)
    writer.ingest("wiki", old, old_vec)
    stream = reader.iter_batches("wiki", batch_size=3)
    first = next(stream)
    writer.ingest("wiki", new, new_vec, replace=True)
    rest = list(stream)  # the reader's snapshot still shows the old version, whole
    assert sum(map(len, [first, *rest])) == len(old)
    assert reader.info("wiki").n_rows == len(new)


def test_failed_first_ingest_leaves_no_tables(pg_db_url):  # noqa: F811
    recs, vecs = _records()
    store = PostgresStore(pg_db_url)
    with pytest.raises(InputError, match="vectors for"):
        store.ingest("wiki", recs, vecs[:-1])
    with pytest.raises(InputError, match="PostgreSQL refused"):
        store.ingest("wiki", [ChunkRecord("a", 0, "nul \x00 byte")], None)
    with psycopg.connect(pg_db_url) as con:
        assert con.execute("SELECT to_regclass('cpe_entry'), to_regclass('lvmgate_datasets')").fetchone() == (
            None,
            None,
        )


def test_vector_modes_and_dimension_checks(pg_db_url):  # noqa: F811
    recs, vecs = _records(dim=8)
    f4 = PostgresStore(pg_db_url + ("&" if "?" in pg_db_url else "?") + "lvmgate_vectors=float4")
    f4.ingest("a", recs, vecs)
    assert f4.vector_mode == "float4"
    f4.ingest("b", recs, vecs[:, :4])  # real[] takes any dimension
    assert f4.info("b").dim == 4
    forced = PostgresStore(pg_db_url + ("&" if "?" in pg_db_url else "?") + "lvmgate_vectors=pgvector")
    with pytest.raises(StoreError, match="already real"):
        forced.ingest("c", recs, vecs)
    assert forced.datasets() == ["a", "b"]


def test_pgvector_mode_keeps_invalid_rows_outside_concept_vec(pg_db_url):  # noqa: F811
    if not server_has_pgvector(pg_db_url):
        pytest.skip("no pgvector on this server")
    recs, vecs = _records(dim=8)
    vecs[0] = np.nan
    vecs[1, 2] = np.inf
    store = PostgresStore(pg_db_url)  # auto: pgvector where available
    store.ingest("a", recs, vecs, allow_invalid=True)
    assert store.vector_mode == "pgvector"
    with psycopg.connect(pg_db_url) as con:
        assert con.execute("SELECT count(*) FROM cpe_vectors").fetchone()[0] == len(recs) - 2
        assert con.execute("SELECT count(*) FROM lvmgate_invalid_vectors").fetchone()[0] == 2
        assert (
            con.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'cpe_vectors'::regclass AND attname = 'concept_vec'"
            ).fetchone()[0]
            == "vector(8)"
        )
    with pytest.raises(InputError, match=r"vector\(8\).*4-D"):
        store.ingest("b", recs, vecs[:, :4], allow_invalid=True)
    store.delete("a")  # cascades to both vector tables
    with psycopg.connect(pg_db_url) as con:
        assert (
            con.execute(
                "SELECT (SELECT count(*) FROM cpe_vectors) + (SELECT count(*) FROM lvmgate_invalid_vectors)"
            ).fetchone()[0]
            == 0
        )


def test_streaming_read_uses_the_canonical_index_without_sorting(pg_db_url):  # noqa: F811
    recs, vecs = _records()
    PostgresStore(pg_db_url).ingest("wiki", recs, vecs)
    with psycopg.connect(pg_db_url) as con:
        for plan_kind in ("seqscan", "bitmapscan"):  # tiny table: ask whether the index serves the order
            con.execute(f"SET enable_{plan_kind} = off")
        plan = "\n".join(
            r[0]
            for r in con.execute(
                "EXPLAIN SELECT e.document_id FROM cpe_entry e WHERE e.dataset_source = 'wiki' "
                'ORDER BY e.document_id COLLATE "C", e.sequence_index, e.ingest_row, e.cpe_id'
            )
        )
    assert "lvmgate_cpe_entry_canonical" in plan and "Sort" not in plan


def test_fingerprint_sees_changes_made_by_other_tools(pg_db_url):  # noqa: F811
    recs, vecs = _records()
    store = PostgresStore(pg_db_url + ("&" if "?" in pg_db_url else "?") + "lvmgate_vectors=float4")
    store.ingest("wiki", recs, vecs)
    seen = {store.info("wiki").fingerprint}
    assert store.info("wiki").fingerprint in seen  # stable while nothing changes
    edits = [
        "UPDATE cpe_vectors SET concept_vec[1] = 42 WHERE cpe_id = (SELECT min(cpe_id::text)::uuid FROM cpe_entry)",
        "UPDATE cpe_entry SET domain_code = 15 WHERE sequence_index = 2 AND document_id = 'doc-1'",
        "UPDATE cpe_entry SET sequence_index = 9 WHERE sequence_index = 0 AND document_id = 'doc-0'",
        "UPDATE cpe_entry SET concept_text = 'edited' WHERE sequence_index = 1 AND document_id = 'doc-2'",
        "DELETE FROM cpe_entry WHERE sequence_index = 3 AND document_id = 'doc-2'",
    ]
    for sql in edits:
        with psycopg.connect(pg_db_url, autocommit=True) as con:
            assert con.execute(sql).rowcount == 1, sql
        fp = store.info("wiki").fingerprint
        assert fp not in seen, sql
        seen.add(fp)


def test_canonical_order_ignores_a_linguistic_database_collation(tmp_path):
    """Production databases usually sort text linguistically ('a' < 'B' < 'é' ...); the store must
    still return code-point order, exactly like the embedded store. pgserver's build has only C
    locales, so this starts Debian's PostgreSQL (built with ICU) for an ICU-collated database."""
    from lvmgate.stores import EmbeddedStore
    from lvmgate.testing.pg import postgres_server

    try:
        cm = postgres_server(backend="debian")
        server = cm.__enter__()
    except RuntimeError as exc:
        pytest.skip(f"Debian's PostgreSQL is not available here: {exc}")
    try:
        with psycopg.connect(server.url, autocommit=True) as con:
            con.execute(
                "CREATE DATABASE icu_db TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und' LOCALE 'C.UTF-8'"
            )
        url = with_database(server.url, "icu_db")
        with psycopg.connect(url) as con:  # the database really sorts differently from code points
            linguistic = [
                r[0] for r in con.execute("SELECT x FROM unnest(ARRAY['B', 'a', 'é', 'f']) x ORDER BY x")
            ]
        assert linguistic == ["a", "B", "é", "f"] != sorted(linguistic)
        ids = ["Zeta", "alpha", "Émile", "émile", "e", "f", "B", "a", "日本", "a\u0301", "ａ"]
        recs = [ChunkRecord(aid, k, f"{aid}/{k}", None, k) for aid in ids for k in (1, 0)]
        vecs = np.random.default_rng(0).standard_normal((len(recs), 4)).astype(np.float32)
        pg = PostgresStore(url + "&lvmgate_vectors=float4")
        emb = EmbeddedStore(tmp_path / "emb")
        for s in (pg, emb):
            s.ingest("uni", recs, vecs)
        (got,), (want,) = list(pg.iter_batches("uni")), list(emb.iter_batches("uni"))
        assert list(got.article_id) == list(want.article_id) and got.text == want.text
        np.testing.assert_array_equal(got.vectors, want.vectors)
        assert list(pg.articles("uni").ids) == sorted(ids)
        assert pg.datasets() == ["uni"]
        pg.close()
    finally:
        cm.__exit__(None, None, None)
