"""`lvmgate readiness --lvm-model CKPT --store URL --dataset NAME`: measure every box of the plan's 4.4
deployment checklist for one model in one go and write the artifacts the phase-4 gate reads.

Export to ONNX (checked in onnxruntime), compressed weight size, batch curve with whole-bank search,
INT8 against float32 on real windows, then a real `lvmgate serve` process on loopback: API
integration checks and an open-loop load test. Every artifact carries the model's weights digest, so
the gate never ticks a box with a measurement of another model. Each step is bounded (the load test
by --duration + --timeout, the server start by --startup-timeout).

Exit codes: 0 when every artifact was written (the gate decides GO/STOP), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

from lvmgate.cli._common import add_store_args


def _sizes(text: str) -> tuple[int, ...]:
    from lvmgate.cli.export import _sizes as parse

    return parse(text)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "readiness",
        help="measure the 4.4 deployment checklist (ONNX, INT8, weights, batch, API, load test) for a model",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--lvm-model", required=True, metavar="SPEC", help="the trained checkpoint (models/NAME.pt)"
    )
    add_store_args(p)
    p.add_argument(
        "--out-dir", default="artifacts/deploy", help="where the artifacts go (default artifacts/deploy)"
    )
    p.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo", help="ONNX exporter")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (>= 17, default 18)")
    p.add_argument(
        "--tolerance", type=float, default=1e-4, help="ONNX parity tolerance recorded (default 1e-4)"
    )
    p.add_argument("--codec", choices=("gzip", "lzma", "bz2", "zstd"), default="gzip", help="weights codec")
    p.add_argument("--batch-sizes", type=_sizes, default=(1, 2, 4, 8, 16, 32, 64, 128))
    p.add_argument(
        "--quantize-n", type=int, default=512, help="windows for the INT8 comparison (default 512)"
    )
    p.add_argument("--qps", type=float, default=1000.0, help="load test rate (default the plan's 1000)")
    p.add_argument("--duration", type=float, default=30.0, help="load test seconds (default 30)")
    p.add_argument("--connections", type=int, default=64, help="load test connections (default 64)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds before a request counts as timed out")
    p.add_argument("--threads", type=int, default=1, help="compute threads (default 1)")
    p.add_argument("--startup-timeout", type=float, default=120.0, help="seconds for the server to come up")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run, accepts_passthrough=True)
    p.epilog = "Arguments after -- are passed to `lvmgate serve` (e.g. -- --max-batch 128 --workers 2)."


def run(args: argparse.Namespace) -> int:
    from lvmgate.errors import InputError
    from lvmgate.gate import explain
    from lvmgate.policy import load_policy
    from lvmgate.readiness import CHECKLIST, deployment_checklist, run_readiness

    if args.quantize_n < 1 or args.connections < 1 or args.threads < 1:
        raise InputError("--quantize-n, --connections and --threads must be at least 1")
    policy = load_policy()
    result = run_readiness(
        args.lvm_model,
        store=args.store,
        dataset=args.dataset,
        out_dir=args.out_dir,
        exporter=args.exporter,
        opset=args.opset,
        tolerance=args.tolerance,
        codec=args.codec,
        batch_sizes=args.batch_sizes,
        quantize_n=args.quantize_n,
        qps=args.qps,
        duration=args.duration,
        connections=args.connections,
        load_timeout=args.timeout,
        threads=args.threads,
        serve_args=args.passthrough,
        startup_timeout=args.startup_timeout,
        seed=args.seed,
        progress=lambda msg: print(msg, file=sys.stderr),
    )
    checklist = deployment_checklist(result.out_dir, result.model)
    print(
        f"4.4 deployment checklist for {result.model.spec} (model {result.model.digest}), {policy.source} policy:"
    )
    crit = {c.id: c.judged(policy) for c in checklist.criteria()}
    for item, ids in CHECKLIST:
        judged = [crit[cid] for cid in ids]
        mark = "[x]" if all(r.status == "pass" for r in judged) else "[ ]"
        print(f"  {mark} {item}")
        for r in judged:
            print(f"        {explain(r)}")
    print(
        f"artifacts in {result.out_dir}/ ({', '.join(sorted(result.paths))}); steps took {result.seconds} s"
    )
    return 0
