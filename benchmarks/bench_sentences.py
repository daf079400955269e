"""Sentence boundaries for gate 1.3: lvmgate's rules beside pySBD, on pySBD's own English Golden Rules
(correctness) and on synthetic chunks at the plan's batch size (speed of `ends_sentence`, the check
the phase-1 gate runs on every sampled chunk, and of `split_sentences`).

    python benchmarks/bench_sentences.py [--chunks 200000] [--pysbd-sample 2000]

pySBD is timed on a sample and extrapolated (it takes milliseconds per chunk); `--pysbd-sample 0`
skips it. Needs `pysbd` (in the test extra) for the Golden Rules and the comparison.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

from lvmgate.sentences import ends_sentence, split_sentences
from lvmgate.synth import synthesize


def golden_rules() -> list[tuple[str, list[str]]]:
    import pysbd

    path = Path(pysbd.__file__).resolve().parent.parent / "benchmarks" / "english_golden_rules.py"
    spec = importlib.util.spec_from_file_location("english_golden_rules", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.GOLDEN_EN_RULES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=200_000)
    ap.add_argument("--pysbd-sample", type=int, default=2000)
    args = ap.parse_args()
    import pysbd

    seg = pysbd.Segmenter(language="en", clean=False)
    rules = golden_rules()

    def score(split) -> int:
        return sum(
            [p.strip() for p in split(t) if p.strip()] == [w.strip() for w in want] for t, want in rules
        )

    print(f"English Golden Rules ({len(rules)} texts, whole split right): lvmgate {score(split_sentences)}, "
          f"pySBD {score(seg.segment)}")  # fmt: skip

    base = [r.text for r in synthesize(400, seed=1).records]
    texts = (base * (args.chunks // len(base) + 1))[: args.chunks]
    mean_len = sum(map(len, texts)) / len(texts)
    t0 = time.perf_counter()
    complete = sum(map(ends_sentence, texts))
    t_ends = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in texts[:20000]:
        split_sentences(t)
    t_split = (time.perf_counter() - t0) / min(20000, len(texts)) * len(texts)
    print(f"{len(texts):,} chunks (mean {mean_len:.0f} characters), {complete:,} end a sentence")
    print(f"lvmgate ends_sentence: {t_ends:.2f} s ({t_ends / len(texts) * 1e6:.1f} us/chunk)")
    print(f"lvmgate split_sentences: {t_split:.1f} s (extrapolated from 20,000 chunks)")
    if args.pysbd_sample:
        sample = texts[: args.pysbd_sample]
        t0 = time.perf_counter()
        for t in sample:
            seg.segment(t)
        per = (time.perf_counter() - t0) / len(sample)
        print(f"pySBD segment: {per * 1e3:.2f} ms/chunk -> {per * len(texts):.0f} s for {len(texts):,} chunks "
              f"(the phase-1 budget is 60 s)")  # fmt: skip


if __name__ == "__main__":
    main()
