"""`lvmgate demo`: the plan's pipeline end to end on a synthetic miniature corpus, with no server and
no downloads. Phase 1: synthesise, ingest into the embedded store, run the phase-1 gates. Phase 2
(`--phases 1-2`): on a corpus whose next chunk can be learned (`lvmgate synth --learnable`, implied),
prepare windows, train the tiny LVM and run the phase-2 gates. Every step is printed as the command
a user would type, so the demo doubles as the tutorial; exit code: the worst gate's (0 GO or WARN,
1 STOP, 2 bad input)."""

from __future__ import annotations

import argparse
import shlex


def register(sub) -> None:
    p = sub.add_parser("demo", help="synthesise a corpus, ingest it, and run the gates of phases 1(-2)")
    p.add_argument("--phases", default="1", help="1 or 1-2 (default 1): 2 also prepares, trains and gates")
    p.add_argument("--articles", type=int, default=300, help="articles to synthesise (default 300)")
    p.add_argument("--fault", default=None, help="plant one fault (see `lvmgate synth --list-faults`)")
    p.add_argument(
        "--learnable",
        action="store_true",
        help="a corpus whose next chunk can be learned (implied by --phases 1-2)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--store", default=None, help="store URL (default: the embedded store in artifacts/store)")
    p.add_argument("--report-dir", default="reports")
    p.add_argument("--work-dir", default="artifacts", help="prepared windows and models go here (phase 2)")
    p.add_argument("--epochs", type=int, default=8, help="phase 2: training epochs at most (default 8)")
    p.add_argument("--backends", default="nearest", help="decoders (default nearest; jxe,ielab need weights)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or per-epoch lines")
    p.add_argument("--no-html", action="store_true", help="gate reports as JSON and markdown only (faster)")
    p.set_defaults(func=run, accepts_passthrough=True)
    p.epilog = "Arguments after -- are passed to pytest in every gate step (e.g. -- -k '2_1 or 2_2')."


def _phases(text: str) -> list[int]:
    from lvmgate.errors import InputError

    lo, _, hi = text.partition("-")
    try:
        phases = list(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        phases = []
    if not phases or not set(phases) <= {1, 2}:
        raise InputError(f"--phases {text!r}: use 1 or 1-2 (phases 3-4 need a grid and a deployment)")
    return phases


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lvmgate.cli import main
    from lvmgate.stores import open_store
    from lvmgate.synth import synthesize

    phases = _phases(args.phases)
    learnable = args.learnable or 2 in phases
    dataset = "demo" + ("_learnable" if learnable else "") + (f"_{args.fault}" if args.fault else "")
    flags = (["--learnable"] if learnable else []) + (["--fault", args.fault] if args.fault else [])
    _say(["synth", "--articles", str(args.articles), "--seed", str(args.seed), *flags], "(in memory)")
    corpus = synthesize(args.articles, fault=args.fault, seed=args.seed, learnable=learnable)
    with open_store(args.store) as store:
        store.ingest(
            dataset,
            corpus.records,
            corpus.vectors,
            encoder=corpus.meta["encoder"],
            replace=True,
            allow_invalid=True,
            meta={"source": "lvmgate demo", "fault": args.fault, "learnable": learnable},
        )
        url = store.url
    print(
        f"ingested {len(corpus.records)} synthetic chunks of {args.articles} articles as {dataset!r} in {url}"
    )
    common = ["--store", url, "--dataset", dataset]
    gate_args = ["--no-html"] if args.no_html else []
    gate_args += ["--", *args.passthrough] if args.passthrough else []  # last: what follows -- goes to pytest
    worst = 0

    def step(argv: list[str]) -> int:
        nonlocal worst
        _say(argv)
        code = main(argv)
        worst = max(worst, code)
        return code

    if 1 in phases:
        step(
            [
                "gate",
                "phase1",
                *common,
                "--report-dir",
                args.report_dir,
                "--backends",
                args.backends,
                *gate_args,
            ]
        )
    if 2 in phases:
        work = Path(args.work_dir)
        data, model = work / "lvm" / f"{dataset}.npz", work / "models" / f"{dataset}.pt"
        quiet = ["--no-progress"] if args.no_progress else []
        if step(["prepare", *common, "--context-window", "5", "--stride", "1", "--val-split", "0.2",
                 "--test-split", "0.1", "--seed", str(args.seed), "--output", str(data)]):  # fmt: skip
            return worst
        # the tiny preset learns at a higher rate than the plan's 5e-4 for the 130M model
        if step(["train", "--data", str(data), "--output", str(model), "--model-size", "tiny",
                 "--lr", "5e-3", "--batch-size", "64", "--epochs", str(args.epochs), "--seed", str(args.seed),
                 "--overwrite", *quiet]):  # fmt: skip
            return worst
        step(["gate", "phase2", *common, "--data", str(data), "--lvm-model", str(model),
              "--report-dir", args.report_dir, "--backends", args.backends, *gate_args])  # fmt: skip
    return worst


def _say(argv: list[str], note: str = "") -> None:
    print("$ lvmgate " + shlex.join(argv) + (f"  {note}" if note else ""), flush=True)
