"""`lvmgate demo`: synthesise a miniature corpus, ingest it into the embedded store and run the
phase-1 gates into reports/ — the main job end to end, with no server and no downloads."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("demo", help="synthesise a corpus, ingest it, run the phase-1 gates into reports/")
    p.add_argument("--articles", type=int, default=300, help="articles to synthesise (default 300)")
    p.add_argument("--fault", default=None, help="plant one fault (see `lvmgate synth --list-faults`)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--store", default=None, help="store URL (default: the embedded store in artifacts/store)")
    p.add_argument("--report-dir", default="reports")
    p.add_argument(
        "--backends", default="nearest", help="1.4 decoders (default nearest; jxe,ielab need weights)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.cli import main
    from lvmgate.stores import open_store
    from lvmgate.synth import synthesize

    dataset = f"demo_{args.fault}" if args.fault else "demo"
    corpus = synthesize(args.articles, fault=args.fault, seed=args.seed)
    with open_store(args.store) as store:
        store.ingest(
            dataset,
            corpus.records,
            corpus.vectors,
            encoder=corpus.meta["encoder"],
            replace=True,
            allow_invalid=True,
            meta={"source": "lvmgate demo", "fault": args.fault},
        )
        url = store.url
    print(
        f"ingested {len(corpus.records)} synthetic chunks of {args.articles} articles as {dataset!r} in {url}"
    )
    # vec2text weights cannot be downloaded here: 1.4 runs the nearest-neighbour round trip only
    argv = [
        "gate",
        "phase1",
        "--dataset",
        dataset,
        "--report-dir",
        args.report_dir,
        "--backends",
        args.backends,
    ]
    return main([*argv, "--store", args.store] if args.store else argv)
