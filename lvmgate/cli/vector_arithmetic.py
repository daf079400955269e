"""`lvmgate vector-arithmetic [--lvm-model M] --output artifacts/validation/vector_arithmetic_lvm.json`.

Plan 2.4: analogies a - b + c ~ d (built-in: the plan's three plus ~2,250 from ten relation
categories; or `--analogies FILE` in the Google questions-words.txt format) answered by 3CosAdd
against a vocabulary of `--vocab-size` words (>= 1,000) with the three inputs excluded, in the
`--encoder` space and, with `--lvm-model`, in the LVM's space (each word vector repeated
`--lvm-context` times as the context; the prediction is the word's image). Writes the JSON
artifact atomically; exit 0 when written, 2 on bad input. Thresholds: `lvmgate gate phase2`.
"""

from __future__ import annotations

import argparse

from lvmgate.errors import InputError


def register(sub) -> None:
    p = sub.add_parser(
        "vector-arithmetic",
        help="analogy accuracy (a - b + c ~ d) in the encoder space and the LVM's space (plan 2.4)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--lvm-model",
        metavar="MODEL",
        default=None,
        help="the LVM (checkpoint path, copy_last, context_mean or module:attribute); omit for the encoder only",
    )
    p.add_argument(
        "--output",
        default="artifacts/validation/vector_arithmetic_lvm.json",
        metavar="FILE.json",
        help="artifact path (default artifacts/validation/vector_arithmetic_lvm.json)",
    )
    p.add_argument(
        "--encoder",
        default="minilm",
        metavar="NAME",
        help="encoder for the words (default minilm; use the LVM's own encoder, e.g. gtr, with --lvm-model)",
    )
    p.add_argument(
        "--analogies",
        metavar="FILE",
        default=None,
        help="Google-format analogy file (': section' headers, 'w1 w2 w3 w4' lines); default: built-in set",
    )
    p.add_argument(
        "--vocab-size",
        type=int,
        default=1000,
        metavar="V",
        help="candidate words, at least 1000 (default 1000)",
    )
    p.add_argument(
        "--lvm-context",
        type=int,
        default=5,
        metavar="W",
        help="context length fed to the LVM: the word vector repeated W times (default 5)",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--resamples",
        type=int,
        default=1000,
        metavar="R",
        help="bootstrap resamples (default 1000; 0 = none)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.arithmetic import predictor_space, read_analogies, vector_arithmetic
    from lvmgate.io import write_json
    from lvmgate.lvm.load import load_predictor
    from lvmgate.policy import load_policy
    from lvmgate.results import Provenance

    if args.vocab_size < 1000:
        raise InputError(f"--vocab-size must be at least 1000, got {args.vocab_size}")
    analogies = read_analogies(args.analogies) if args.analogies else None
    space = None
    if args.lvm_model:
        space = predictor_space(load_predictor(args.lvm_model), args.lvm_context)
    report = vector_arithmetic(
        args.encoder,
        analogies,
        vocab_size=args.vocab_size,
        space=space,
        space_name="lvm",
        analogy_source=args.analogies or "built-in",
        resamples=max(0, args.resamples),
        seed=args.seed,
    )
    prov = Provenance(
        tool="vector_arithmetic",
        dataset="analogies",
        store="",
        fingerprint="",
        sample_size=report.n_analogies,
        seed=args.seed,
        params={
            "encoder": report.encoder,
            "analogies": report.analogy_source,
            "vocab_size": report.vocab_size,
            "lvm_model": args.lvm_model,
            "lvm_context": args.lvm_context if args.lvm_model else None,
        },
        policy_digest=load_policy().digest,
    )
    report = type(report)(**{**report.__dict__, "provenance": prov.to_dict()})
    write_json(args.output, report)
    print(
        f"{report.n_analogies} analogies ({report.analogy_source}), vocabulary {report.vocab_size} "
        f"({report.vocab_source}), encoder {report.encoder}"
    )
    for name, s in report.spaces.items():
        print(
            f"{name:<8} top-1 {s.top1.value:.3f} [{s.top1.low:.3f}, {s.top1.high:.3f}]  "
            f"top-3 {s.top3.value:.3f} [{s.top3.low:.3f}, {s.top3.high:.3f}]  chance top-3 {s.chance_top3:.4f}"
        )
    print(f"wrote {args.output}")
    return 0
