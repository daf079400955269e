"""Store throughput: ingest N synthetic 768-D chunks, then stream them back in canonical order.

Compares the embedded store (and PostgreSQL when `--pg URL` or `--pg auto` is given) with a naive
row-at-a-time SQLite insert (one INSERT per row, the vector as a blob) measured in the same run.
Each phase runs in its own forked process so that its peak memory is its own:
`peak_rss` is the process's high-water mark (VmHWM, includes memory-mapped vector pages that were
touched), `extra_anon` the growth of anonymous memory (RssAnon) over the phase's starting point,
sampled every 20 ms — what the phase itself allocated.

    python benchmarks/bench_store.py --rows 1000000 [--naive-rows 100000] [--pg auto --pg-rows 200000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lvmgate.corpus import ChunkRecord

TEXT_POOL_SEED = 1234


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class _AnonSampler:
    """Samples RssAnon in a thread; `extra_mb` is the peak growth over the starting value."""

    def __init__(self, every: float = 0.02):
        self.start = _status_kb("RssAnon")
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.peak = max(self.peak, _status_kb("RssAnon"))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _status_kb("RssAnon"))
        return (self.peak - self.start) / 1024


def make_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    step = 65536
    for lo in range(0, n, step):
        out[lo : lo + step] = rng.standard_normal((min(step, n - lo), dim), dtype=np.float32)
    return out


def make_records(n: int, seed: int = 0, chunks_per_article: int = 20) -> Iterator[ChunkRecord]:
    """~20 chunks per article, articles in shuffled id order (so canonical order != input order)."""
    rng = np.random.default_rng(seed)
    n_articles = max(1, n // chunks_per_article)
    order = rng.permutation(n_articles)
    pool = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz     .,"), size=4096))
    offsets = rng.integers(0, len(pool) - 320, size=n)
    row = 0
    for a in order:
        aid = f"wiki-{a:08d}"
        title = f"Article {a}"
        take = chunks_per_article if a != order[-1] else n - row
        for i in range(min(take, n - row)):
            off = int(offsets[row])
            yield ChunkRecord(aid, i, pool[off : off + 300], title, int(a % 16), int(a % 32), i % 64, "bench")
            row += 1
        if row >= n:
            return


def _child(fn, args, queue) -> None:
    try:
        queue.put(fn(*args))
    except BaseException as exc:  # report instead of hanging the parent
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def in_child(fn, *args) -> dict:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if "error" in result:
        raise SystemExit(f"{fn.__name__} failed: {result['error']}")
    return result


def ingest_phase(url: str, n: int, dim: int) -> dict:
    from lvmgate.stores import open_store

    vectors = make_vectors(n, dim)
    store = open_store(url)
    sampler = _AnonSampler()
    t0 = time.perf_counter()
    store.ingest("bench", make_records(n), vectors, encoder="random", replace=True)
    seconds = time.perf_counter() - t0
    extra = sampler.stop()
    store.close()
    return {
        "seconds": seconds,
        "rate": n / seconds,
        "peak_rss_mb": _status_kb("VmHWM") / 1024,
        "extra_anon_mb": extra,
    }


def read_phase(url: str, n: int) -> dict:
    from lvmgate.stores import open_store

    store = open_store(url)
    sampler = _AnonSampler()
    t0 = time.perf_counter()
    rows = 0
    checksum = 0.0
    last = None
    for batch in store.iter_batches("bench", batch_size=65536):
        rows += len(batch)
        checksum += float(batch.vectors[:, 0].sum())  # touch the vectors
        key = (batch.article_id[-1], int(batch.chunk_index[-1]))
        last = key
    seconds = time.perf_counter() - t0
    extra = sampler.stop()
    store.close()
    assert rows == n, (rows, n)
    return {
        "seconds": seconds,
        "rate": n / seconds,
        "peak_rss_mb": _status_kb("VmHWM") / 1024,
        "extra_anon_mb": extra,
        "last": list(last) if last else None,
    }


def naive_phase(path: str, n: int, dim: int) -> dict:
    """One INSERT per row (vector as a blob) in one transaction; read back ORDER BY with frombuffer."""
    vectors = make_vectors(n, dim)
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE chunks (article_id TEXT, chunk_index INTEGER, text TEXT, title TEXT, domain_code INTEGER,"
        " task_code INTEGER, modifier_code INTEGER, vec BLOB)"
    )
    sampler = _AnonSampler()
    t0 = time.perf_counter()
    for i, r in enumerate(make_records(n)):
        con.execute(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?)",
            (
                r.article_id,
                r.chunk_index,
                r.text,
                r.title,
                r.domain_code,
                r.task_code,
                r.modifier_code,
                vectors[i].tobytes(),
            ),
        )
    con.commit()
    ingest_s = time.perf_counter() - t0
    ingest_extra = sampler.stop()
    sampler = _AnonSampler()
    t0 = time.perf_counter()
    rows = 0
    for row in con.execute(
        "SELECT article_id, chunk_index, text, vec FROM chunks ORDER BY article_id, chunk_index"
    ):
        np.frombuffer(row[3], np.float32)
        rows += 1
    read_s = time.perf_counter() - t0
    read_extra = sampler.stop()
    con.close()
    assert rows == n
    return {
        "ingest": {"seconds": ingest_s, "rate": n / ingest_s, "extra_anon_mb": ingest_extra},
        "read": {"seconds": read_s, "rate": n / read_s, "extra_anon_mb": read_extra},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--naive-rows", type=int, default=100_000)
    p.add_argument(
        "--pg", metavar="URL", default=None, help="PostgreSQL URL, or 'auto' for a throwaway server"
    )
    p.add_argument("--pg-rows", type=int, default=None, help="rows for PostgreSQL (default --rows)")
    p.add_argument("--dir", default=None, help="where the embedded store goes (default: a temp folder)")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON")
    args = p.parse_args(argv)

    work = Path(args.dir or tempfile.mkdtemp(prefix="lvmbench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {"rows": args.rows, "dim": args.dim, "cpus": os.cpu_count()}

    emb_url = str(work / "embedded")
    results["embedded_ingest"] = in_child(ingest_phase, emb_url, args.rows, args.dim)
    results["embedded_read"] = in_child(read_phase, emb_url, args.rows)
    results["naive"] = in_child(naive_phase, str(work / "naive.sqlite"), args.naive_rows, args.dim)
    results["naive"]["rows"] = args.naive_rows

    if args.pg:
        pg_rows = args.pg_rows or args.rows
        if args.pg == "auto":
            from lvmgate.testing.pg import postgres_server

            with postgres_server(tune=False) as server:  # durable settings, as in production
                results.update(_pg(server.url, pg_rows, args.dim))
        else:
            results.update(_pg(args.pg, pg_rows, args.dim))

    _print(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def _pg(url: str, n: int, dim: int) -> dict:
    out: dict[str, dict] = {}
    for mode in ("pgvector", "float4"):
        from lvmgate.testing.pg import fresh_database

        with fresh_database(url, prefix="lvmbench") as db:
            mode_url = db + ("&" if "?" in db else "?") + f"lvmgate_vectors={mode}"
            out[f"pg_{mode}_ingest"] = in_child(ingest_phase, mode_url, n, dim) | {"rows": n}
            out[f"pg_{mode}_read"] = in_child(read_phase, mode_url, n) | {"rows": n}
    return out


def _print(r: dict) -> None:
    print(f"\n{r['rows']:,} chunks x {r['dim']}-D float32, {r['cpus']} CPUs\n")
    print(
        f"| {'what':<44} | {'rows':>9} | {'seconds':>8} | {'chunks/s':>10} | {'peak RSS MB':>11} | {'extra anon MB':>13} |"
    )
    print(f"|{'-' * 46}|{'-' * 11}|{'-' * 10}|{'-' * 12}|{'-' * 13}|{'-' * 15}|")

    def line(label: str, d: dict, rows: int) -> None:
        rss = f"{d['peak_rss_mb']:.0f}" if "peak_rss_mb" in d else "-"
        print(
            f"| {label:<44} | {rows:>9,} | {d['seconds']:>8.2f} | {d['rate']:>10,.0f} | {rss:>11} | {d['extra_anon_mb']:>13.0f} |"
        )

    line("embedded ingest (records + vectors)", r["embedded_ingest"], r["rows"])
    line("embedded streaming read (text+TMD+vectors)", r["embedded_read"], r["rows"])
    nv = r["naive"]
    line("naive SQLite: one INSERT per row, blob", nv["ingest"], nv["rows"])
    line("naive SQLite: SELECT ORDER BY + frombuffer", nv["read"], nv["rows"])
    for mode in ("pgvector", "float4"):
        if f"pg_{mode}_ingest" in r:
            line(
                f"PostgreSQL {mode} ingest (binary COPY)",
                r[f"pg_{mode}_ingest"],
                r[f"pg_{mode}_ingest"]["rows"],
            )
            line(f"PostgreSQL {mode} streaming read", r[f"pg_{mode}_read"], r[f"pg_{mode}_read"]["rows"])
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
