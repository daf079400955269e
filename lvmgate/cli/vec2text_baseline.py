"""`lvmgate vec2text-baseline --dataset NAME --backends jxe,ielab --output FILE.json` (plan 1.4).

Exit codes: 0 every backend decoded every sampled chunk; 1 the artifact was written but a backend
failed part or all of its batches (see its `errors`); 2 bad input (unknown backend or dataset,
missing weights, wrong vector dimension, unavailable device), nothing decoded or written.
The 1.4 thresholds are shown but judged by the gate (`lvmgate gate phase1`), not by this exit code.
"""

from __future__ import annotations

import argparse
import sys

from lvmgate.cli._common import add_progress_arg, add_store_args


def register(sub) -> None:
    p = sub.add_parser(
        "vec2text-baseline",
        help="decode sampled chunk vectors with vec2text (jxe, ielab) or nearest neighbour; write the 1.4 artifact",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_args(p)
    p.add_argument("--sample-size", type=int, default=500, metavar="N", help="chunks to sample (default 500)")
    p.add_argument(
        "--backends",
        default="jxe,ielab",
        metavar="LIST",
        help="comma-separated decoders: jxe, ielab, nearest (default jxe,ielab)",
    )
    p.add_argument(
        "--output",
        default="artifacts/validation/vec2text_baseline.json",
        metavar="FILE.json",
        help="artifact path (default artifacts/validation/vec2text_baseline.json)",
    )
    p.add_argument("--seed", type=int, default=None, help="sampling seed (default: the policy's, 0)")
    p.add_argument(
        "--device",
        default=None,
        choices=("cpu", "cuda", "mps"),
        help="device for vec2text (default: $VEC2TEXT_DEVICE, else cuda if available, else cpu)",
    )
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="vectors per decode call")
    p.add_argument(
        "--encoder",
        default=None,
        metavar="SPEC",
        help="encoder that re-encodes decoded text for the round trip (default: the dataset's declared one)",
    )
    p.add_argument(
        "--model-path",
        default=None,
        metavar="DIR",
        help="folder with the vec2text models (default: $LVMGATE_VEC2TEXT_PATH, else the Hugging Face cache)",
    )
    p.add_argument(
        "--num-steps", type=int, default=None, metavar="N", help="override the presets' correction steps"
    )
    p.add_argument(
        "--beam-width", type=int, default=None, metavar="N", help="override the presets' sequence beam width"
    )
    p.add_argument(
        "--exclude-self",
        action="store_true",
        help="nearest: never return the query's own row (held-out decoding instead of a consistency ceiling)",
    )
    add_progress_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.baseline import compute_vec2text_baseline
    from lvmgate.errors import InputError

    if args.batch_size is not None and args.batch_size < 1:
        raise InputError("--batch-size must be at least 1")
    artifact = compute_vec2text_baseline(
        args.store,
        args.dataset,
        args.backends,
        sample_size=args.sample_size,
        seed=args.seed,
        device=args.device,
        batch_size=args.batch_size,
        encoder=args.encoder,
        model_path=args.model_path,
        num_steps=args.num_steps,
        sequence_beam_width=args.beam_width,
        exclude_self=args.exclude_self,
        output=args.output,
        progress=args.progress,
    )
    _print_summary(artifact, args.output)
    if not artifact.complete:
        failed = [n for n, r in artifact.backends.items() if r.status != "ok"]
        print(
            f"lvmgate vec2text-baseline: backend(s) {', '.join(failed)} did not decode every chunk; "
            f"partial results are in {args.output}",
            file=sys.stderr,
        )
        return 1
    return 0


def _fmt(est) -> str:
    return "-" if est is None else f"{est.value:.3f} [{est.low:.3f}, {est.high:.3f}]"


def _print_summary(artifact, output: str) -> None:
    s = artifact.sample
    print(
        f"{artifact.provenance.dataset}: {s.decodable} of {s.drawn} sampled chunks decoded "
        f"(seed {artifact.provenance.seed}; round trip with {s.encoder or 'no encoder'})"
    )
    print(
        f"{'backend':<10}{'status':<9}{'BLEU-4':<24}{'BLEU-1':<24}{'round-trip cos':<24}{'exact':<8}{'s/item':<8}"
    )
    for name, rep in artifact.backends.items():
        m = rep.metrics
        lat = "-" if m is None or m.latency is None else f"{m.latency.mean_s.value:.3g}"
        exact = "-" if m is None else f"{m.exact_match.value:.3f}"
        print(
            f"{name:<10}{rep.status:<9}{_fmt(m and m.bleu4):<24}{_fmt(m and m.bleu1):<24}"
            f"{_fmt(m and m.round_trip_cosine):<24}{exact:<8}{lat:<8}"
        )
    from lvmgate.baseline import check_baseline
    from lvmgate.gate import explain

    for c in check_baseline(artifact):
        if c.status != "pass":
            print(f"  {explain(c)}")
    for note in artifact.notes:
        print(f"  note: {note}")
    print(f"wrote {output}")
