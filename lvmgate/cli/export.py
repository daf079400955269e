"""`lvmgate export --onnx --lvm-model CKPT --output model.onnx`: ONNX export checked against PyTorch,
the compressed weight size, and (with --batch-curve) throughput against batch size; one JSON report."""

from __future__ import annotations

import argparse

from lvmgate.errors import InputError

DEFAULT_REPORT = "artifacts/deploy/export.json"


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("batch sizes must be positive integers")
    return sizes


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lvm-model",
        required=True,
        metavar="SPEC",
        help="checkpoint path, preset:NAME (untrained), copy_last, context_mean or module:attr",
    )
    p.add_argument("--window", type=int, default=None, help="context length (default: the model's, else 5)")
    p.add_argument("--threads", type=int, default=1, help="torch / BLAS / onnxruntime threads (default 1)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export the LVM to ONNX (checked in onnxruntime), measure weight size and batch throughput",
    )
    add_model_args(p)
    p.add_argument("--onnx", action="store_true", help="export to ONNX and check parity with PyTorch")
    p.add_argument("--output", default="artifacts/deploy/model.onnx", help="ONNX file to write")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (>= 17, default 18)")
    p.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed (default 1e-4)")
    p.add_argument("--weights", default=None, metavar="PATH", help="also keep the safetensors file here")
    p.add_argument("--codec", choices=("gzip", "lzma", "bz2", "zstd"), default="gzip")
    p.add_argument("--batch-curve", action="store_true", help="measure throughput against batch size")
    p.add_argument("--batch-sizes", type=_sizes, default=(1, 2, 4, 8, 16, 32, 64, 128))
    p.add_argument(
        "--store", default=None, metavar="URL", help="with --dataset: the curve includes bank search"
    )
    p.add_argument("--dataset", default=None, metavar="NAME")
    p.add_argument("--report", default=DEFAULT_REPORT, help=f"JSON report (default {DEFAULT_REPORT})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.deploy.export import ExportReport, export_onnx
    from lvmgate.deploy.predictor import batch_curve, build_search
    from lvmgate.deploy.weights import weights_size
    from lvmgate.io import write_json
    from lvmgate.lvm.load import load_model
    from lvmgate.results import Provenance

    loaded = load_model(args.lvm_model, window=args.window, dim=768, threads=args.threads)
    loaded.require_module("export")
    window = loaded.window or args.window or 5
    onnx = None
    if args.onnx:
        onnx = export_onnx(
            loaded.module,
            args.output,
            window=window,
            dim=loaded.dim,
            opset=args.opset,
            exporter=args.exporter,
            tolerance=args.tolerance,
            threads=args.threads,
        )
    weights = weights_size(loaded.module, args.weights, codec=args.codec)
    curve, store_url, fingerprint = None, "", ""
    if args.batch_curve:
        index = None
        if args.store or args.dataset:
            if not args.dataset:
                raise InputError("--store needs --dataset")
            from lvmgate.stores import open_store

            store = open_store(args.store)
            info = store.require(args.dataset)
            index = build_search(store.vectors(args.dataset), "auto")
            store_url, fingerprint = store.url, info.fingerprint
        curve = batch_curve(
            loaded.predictor, window=window, dim=loaded.dim, batch_sizes=args.batch_sizes, index=index
        )
    prov = Provenance(
        tool="export",
        dataset=args.dataset or "",
        store=store_url,
        fingerprint=fingerprint,
        sample_size=0,
        seed=0,
        params={
            "lvm_model": args.lvm_model,
            "window": window,
            "exporter": args.exporter,
            "opset": args.opset,
        },
    )
    report = ExportReport(loaded.describe(), onnx, weights, curve, prov)
    write_json(args.report, report)
    if onnx is not None:
        print(
            f"ONNX {onnx.path}: opset {onnx.opset}, {onnx.exporter}, dynamic batch {onnx.dynamic_batch}, "
            f"max |onnxruntime - torch| {onnx.max_abs_diff:.2e} (tolerance {onnx.tolerance:g}): "
            f"{'PASS' if onnx.passed else 'FAIL'}"
        )
    print(
        f"weights: {weights.params:,} params, safetensors {weights.safetensors_bytes:,} B, "
        f"{weights.codec} {weights.compressed_bytes:,} B (limit {weights.limit_bytes:,} B)"
    )
    if curve is not None:
        print(
            f"batch curve: best {curve.best_sequences_per_s:,.0f} seq/s at batch {curve.best_batch_size} "
            f"({curve.speedup_vs_batch1:.1f}x batch 1)"
        )
    print(f"report: {args.report}")
    return 0 if onnx is None or onnx.passed else 1
