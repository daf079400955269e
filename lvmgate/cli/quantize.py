"""`lvmgate quantize --lvm-model CKPT`: INT8 against float32 (size, speed-up, cosine, Recall@10)."""

from __future__ import annotations

import argparse

from lvmgate.cli.export import add_model_args
from lvmgate.errors import InputError

DEFAULT_REPORT = "artifacts/deploy/quantize.json"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quantize",
        help="INT8 dynamic quantisation (torch, and onnxruntime with --onnx) measured against float32",
    )
    add_model_args(p)
    p.add_argument("--onnx", default=None, metavar="MODEL.onnx", help="float32 export to quantise too")
    p.add_argument("--store", default=None, metavar="URL", help="with --dataset: real windows, Recall@10")
    p.add_argument("--dataset", default=None, metavar="NAME")
    p.add_argument("--n", type=int, default=512, help="evaluation contexts (default 512)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size for the speed comparison")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-dir", default=None, help="keep the int8 model files here")
    p.add_argument("--report", default=DEFAULT_REPORT, help=f"JSON report (default {DEFAULT_REPORT})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.deploy.quantize import quantize_report, store_eval, synthetic_eval
    from lvmgate.io import write_json
    from lvmgate.lvm.load import load_model
    from lvmgate.results import Provenance

    if args.n < 1 or args.batch_size < 1:
        raise InputError("--n and --batch-size must be at least 1")
    loaded = load_model(args.lvm_model, window=args.window, dim=768, threads=args.threads)
    loaded.require_module("quantisation")
    window = loaded.window or args.window or 5
    store_url, fingerprint = "", ""
    if args.store or args.dataset:
        if not args.dataset:
            raise InputError("--store needs --dataset")
        from lvmgate.stores import open_store

        store = open_store(args.store)
        data = store_eval(store, args.dataset, window, n=args.n, seed=args.seed)
        store_url, fingerprint = store.url, store.info(args.dataset).fingerprint
    else:
        data = synthetic_eval(window, loaded.dim, n=args.n, seed=args.seed)
    report = quantize_report(
        loaded.module,
        data,
        window=window,
        model_info=loaded.describe(),
        onnx_path=args.onnx,
        out_dir=args.output_dir,
        batch_size=args.batch_size,
        threads=args.threads,
    )
    prov = Provenance(
        tool="quantize",
        dataset=args.dataset or "",
        store=store_url,
        fingerprint=fingerprint,
        sample_size=len(data.contexts),
        seed=args.seed,
        params={"lvm_model": args.lvm_model, "window": window, "onnx": args.onnx},
    )
    write_json(args.report, {**report.to_dict(), "provenance": prov.to_dict()})
    for r in report.results:
        recall = (
            f", Recall@10 {r.recall_at_10_fp32:.3f} -> {r.recall_at_10_int8:.3f}"
            if r.recall_at_10_fp32 is not None
            else ""
        )
        print(
            f"{r.method}: {r.fp32_bytes:,} -> {r.int8_bytes:,} B ({r.size_ratio:.2f}x), "
            f"{r.speedup:.2f}x faster at batch {r.batch_size}, cosine to fp32 mean {r.cosine_to_fp32_mean:.4f} "
            f"min {r.cosine_to_fp32_min:.4f}{recall}"
        )
    print(f"report: {args.report}")
    return 0
