"""`lvmgate serve`: the HTTP API (POST /predict, GET /health, GET /metrics) over a store's bank."""

from __future__ import annotations

import argparse

from lvmgate.cli._common import add_store_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve next-chunk predictions with whole-bank neighbours over HTTP",
        description="Serve POST /predict (context vectors or texts -> next vector + top-k chunks), "
        "GET /health and GET /metrics (Prometheus), with micro-batching and a bounded queue.",
    )
    p.add_argument(
        "--lvm-model",
        required=True,
        metavar="SPEC",
        help="checkpoint path, model.onnx, preset:tiny (untrained), copy_last, context_mean or module:attr",
    )
    add_store_args(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    p.add_argument("--max-batch", type=int, default=64, help="contexts per model call (default 64)")
    p.add_argument("--max-wait-ms", type=float, default=1.0, help="wait for a batch to fill (default 1)")
    p.add_argument("--max-queue", type=int, default=1024, help="contexts waiting before 429 (default 1024)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds in the queue before 503 (default 10)")
    p.add_argument("--window", type=int, default=None, help="required context length (default: the model's)")
    p.add_argument("--max-context", type=int, default=64, help="longest context accepted (default 64)")
    p.add_argument("--max-request-batch", type=int, default=32, help="contexts per request (default 32)")
    p.add_argument("--top-k", type=int, default=10, help="neighbours returned by default (default 10)")
    p.add_argument(
        "--search",
        choices=("auto", "numpy", "bf16"),
        default="auto",
        help="exact whole-bank search: numpy float32, certified bf16, or auto (the faster here)",
    )
    p.add_argument("--threads", type=int, default=1, help="compute threads for the batch worker (default 1)")
    p.add_argument("--max-connections", type=int, default=2048, help="concurrent connections before 503")
    p.add_argument("--log-file", default=None, help="append JSON log lines here (default stderr)")
    p.add_argument("--access-log", action="store_true", help="also log one line per request")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.deploy.server import ServeConfig, serve

    cfg = ServeConfig(
        lvm_model=args.lvm_model,
        dataset=args.dataset,
        store=args.store,
        host=args.host,
        port=args.port,
        workers=args.workers,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        timeout_s=args.timeout,
        window=args.window,
        max_context=args.max_context,
        max_request_batch=args.max_request_batch,
        top_k=args.top_k,
        search=args.search,
        threads=args.threads,
        max_connections=args.max_connections,
        log_file=args.log_file,
        access_log=args.access_log,
    )
    serve(cfg)
    return 0
