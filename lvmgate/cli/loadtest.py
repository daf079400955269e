"""`lvmgate loadtest --url http://127.0.0.1:PORT --qps 1000 --duration 30`: open-loop load, latency
from the scheduled send time, errors by kind; one JSON artifact."""

from __future__ import annotations

import argparse

from lvmgate.errors import InputError

DEFAULT_OUT = "artifacts/deploy/loadtest.json"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("loadtest", help="open-loop HTTP load test of a running `lvmgate serve`")
    p.add_argument(
        "--url", required=True, help="server base URL (POSTs go to /predict unless a path is given)"
    )
    p.add_argument("--qps", type=float, default=1000.0, help="requests per second to offer (default 1000)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30)")
    p.add_argument("--connections", type=int, default=64, help="keep-alive connections (default 64)")
    p.add_argument("--format", choices=("binary", "json"), default="binary", help="request body format")
    p.add_argument("--window", type=int, default=None, help="context length (default: the server's, else 5)")
    p.add_argument("--dim", type=int, default=None, help="vector dimension (default: the server's)")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds before a request counts as timed out")
    p.add_argument("--max-requests", type=int, default=1_000_000, help="refuse runs larger than this")
    p.add_argument("--store", default=None, metavar="URL", help="with --dataset: contexts from the bank")
    p.add_argument("--dataset", default=None, metavar="NAME")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=DEFAULT_OUT, help=f"JSON artifact (default {DEFAULT_OUT})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.deploy.loadtest import run_loadtest
    from lvmgate.io import write_json

    bank = None
    if args.store or args.dataset:
        if not args.dataset:
            raise InputError("--store needs --dataset")
        from lvmgate.stores import open_store

        bank = open_store(args.store).vectors(args.dataset)
    result = run_loadtest(
        args.url,
        qps=args.qps,
        duration=args.duration,
        connections=args.connections,
        fmt=args.format,
        window=args.window,
        dim=args.dim,
        top_k=args.top_k,
        timeout=args.timeout,
        max_requests=args.max_requests,
        bank=bank,
        seed=args.seed,
    )
    write_json(args.out, result)
    lat = result.latency_ms
    print(
        f"offered {result.offered_qps:,.0f} req/s, achieved {result.achieved_qps:,.0f} req/s "
        f"({result.ok}/{result.scheduled} ok); latency ms p50 {lat['p50']:.1f} p95 {lat['p95']:.1f} "
        f"p99 {lat['p99']:.1f} max {lat['max']:.1f}; errors {result.error_count} {result.errors or ''}"
    )
    print(f"artifact: {args.out}")
    return 0
