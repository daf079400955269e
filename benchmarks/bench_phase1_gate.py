"""Benchmark: `lvmgate gate phase1` on a batch-1-sized embedded dataset (~200k chunks, 10k articles).

    python benchmarks/bench_phase1_gate.py [--articles 10000] [--workdir DIR]

Synthesises the corpus (not timed), ingests it, then times the whole gate run as a user runs it
(a subprocess: imports, store reads, all three artifacts, pytest, reports with plots), cold
(artifacts computed) and warm (artifacts cached). Peak memory is the gate process's max RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lvmgate.stores import EmbeddedStore
from lvmgate.synth import synthesize


def run_gate(workdir: Path, extra: list[str]) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "lvmgate",
            "gate",
            "phase1",
            "--store",
            str(workdir / "store"),
            "--dataset",
            "batch1",
            "--report-dir",
            str(workdir / "reports"),
            "--artifacts-dir",
            str(workdir / "artifacts"),
            *extra,
        ],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(p.stdout.strip().splitlines()[-1])
    return seconds, max(peak, before)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=10_000)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="lvmgate-bench-"))
    store = EmbeddedStore(workdir / "store")
    if not store.has_dataset("batch1"):
        t = time.perf_counter()
        corpus = synthesize(args.articles, seed=0)
        print(
            f"synthesised {len(corpus.records):,} chunks in {time.perf_counter() - t:.1f} s (not part of the gate)"
        )
        t = time.perf_counter()
        store.ingest("batch1", corpus.records, corpus.vectors, encoder=corpus.meta["encoder"])
        print(f"ingested in {time.perf_counter() - t:.1f} s")
    info = store.info("batch1")
    store.close()
    cold, peak = run_gate(workdir, ["--recompute"])
    warm, _ = run_gate(workdir, [])
    print(f"dataset: {info.n_rows:,} chunks, {info.n_articles:,} articles, {info.dim}-D")
    print(f"gate phase1 cold (compute artifacts): {cold:.1f} s wall; warm (cached artifacts): {warm:.1f} s")
    print(f"peak memory of the gate process: {peak / 1024:.0f} MB")


if __name__ == "__main__":
    main()
