"""`lvmgate compare-reconstruction --lvm-model M --vec2text-backends jxe,ielab --test-set T --output O`.

Plan 2.3: the LVM's predicted next vectors, the copy-last / context-mean baselines and (for
vec2text) the true next vectors decoded by nearest (whole bank, context rows excluded) and by each
vec2text backend whose weights exist; BLEU-4 against the true next chunk's text, cosine against the
true next vector, latency per query; paired article-bootstrap comparisons. `--test-set` is a
held-out split from `lvmgate prepare` (NAME_test.npz; default: the model's own test split, else its
val split) or a JSONL of chunk records of held-out articles (then --dataset, and --store, name the
bank). Writes the JSON artifact atomically and prints the criteria as the policy judges them; the
go/no-go decision is `lvmgate gate phase2`'s. Exit 0 written, 1 written but a decoder failed, 2 bad
input (unknown backend, test set sharing articles with the training data, wrong dimension...).
"""

from __future__ import annotations

import argparse
import sys

from lvmgate.cli._common import add_progress_arg
from lvmgate.errors import InputError


def register(sub) -> None:
    p = sub.add_parser(
        "compare-reconstruction",
        help="LVM predictions decoded to text vs vec2text and the copy-last / context-mean baselines (plan 2.3)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--lvm-model",
        required=True,
        metavar="MODEL",
        help="LVM checkpoint (models/NAME.pt; its NAME_training.json proves the test set held out), "
        "or copy_last / context_mean / module:attribute",
    )
    p.add_argument(
        "--vec2text-backends",
        "--backends",
        dest="backends",
        default="jxe,ielab",
        metavar="LIST",
        help="vec2text presets to decode with besides nearest (default jxe,ielab; nearest always runs)",
    )
    p.add_argument(
        "--test-set",
        default=None,
        metavar="FILE",
        help="held-out NAME_test.npz / NAME_val.npz from lvmgate prepare, or a JSONL of chunk records "
        "(default: the model's own test split, else its val split)",
    )
    p.add_argument(
        "--output",
        default="artifacts/validation/reconstruction_lvm_vs_vec2text.json",
        metavar="FILE",
        help="artifact path (default artifacts/validation/reconstruction_lvm_vs_vec2text.json)",
    )
    p.add_argument("--store", default=None, metavar="URL", help="store URL (default: the test set's own)")
    p.add_argument("--dataset", default=None, metavar="NAME", help="bank dataset (JSONL test sets)")
    p.add_argument("--baseline", default=None, metavar="FILE", help="the 1.4 vec2text_baseline artifact")
    p.add_argument(
        "--sample-size", type=int, default=None, metavar="N", help="windows to decode (default 500)"
    )
    p.add_argument(
        "--seed", type=int, default=None, help="sampling and bootstrap seed (default: the policy's)"
    )
    p.add_argument("--device", default=None, help="cpu | cuda | mps (LVM and vec2text)")
    p.add_argument("--model-path", default=None, metavar="DIR", help="folder with vec2text weights")
    p.add_argument(
        "--encoder", default=None, help="re-encode decoded text with this (default: the dataset's)"
    )
    p.add_argument("--context-window", type=int, default=None, help="JSONL test sets: context length")
    p.add_argument("--batch-size", type=int, default=None, help="decoder batch size")
    add_progress_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.compare import compare_reconstruction

    if args.batch_size is not None and args.batch_size < 1:
        raise InputError("--batch-size must be at least 1")
    comp = compare_reconstruction(
        args.lvm_model,
        args.test_set,
        backends=args.backends,
        store=args.store,
        dataset=args.dataset,
        baseline=args.baseline,
        sample_size=args.sample_size,
        seed=args.seed,
        device=args.device,
        model_path=args.model_path,
        encoder=args.encoder,
        context_window=args.context_window,
        batch_size=args.batch_size,
        progress=args.progress,
        output=args.output,
    )
    _print(comp, args.output)
    failed = [n for n, d in comp.decoders.items() if d.status == "failed"]
    if failed:
        print(f"lvmgate compare-reconstruction: decoder(s) {', '.join(failed)} failed", file=sys.stderr)
        return 1
    return 0


def _fmt(e) -> str:
    return "-" if e is None else f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"


def _print(comp, output: str) -> None:
    t, s = comp.test_set, comp.sample
    print(
        f"{t['dataset']}: {s['n_windows']} windows of {s['n_articles']} held-out articles from {t['path']} "
        f"({t['split']}; {t['note']})"
    )
    print(f"{'decoder':<9}{'predictor':<14}{'BLEU-4':<24}{'text cos':<24}{'ms/item':<8}")
    for name, d in comp.decoders.items():
        if d.status != "ok":
            print(f"{name:<9}{d.status}: {d.reason[:110]}")
            continue
        for p, m in d.metrics.items():
            print(
                f"{name:<9}{p:<14}{_fmt(m['bleu4']):<24}{_fmt(m['text_cosine']):<24}"
                f"{m['latency_per_item_s'] * 1000:<8.3g}"
            )
    for cid, c in comp.judged().items():
        print(f"  {cid:<40} {c.value_text():<26} {c.status.replace('_', ' ').upper()}")
    for note in comp.notes:
        print(f"  note: {note}")
    print(f"wrote {output}")
