"""`lvmgate baselines --data NAME.npz [--val-data NAME_val.npz] [--output artifacts/lvm/NAME_baselines]`

The bar a trained LVM must clear, known before training: copy-last, context-mean and a ridge
regression fitted on the training split, scored on the article-disjoint validation split exactly as
gate 2.2 scores the model (cosine, next-vs-context margin, Recall@1/5/10 over the full vector bank,
article-bootstrap intervals). Writes OUTPUT.json (metrics) and OUTPUT.npz (per-window scores).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("baselines", help="score copy-last, context-mean and ridge like the model (plan 2.2)")
    p.add_argument(
        "--data", required=True, metavar="NAME.npz", help="training windows (ridge is fitted here)"
    )
    p.add_argument("--val-data", metavar="NAME_val.npz", help="validation windows (default: the set's val)")
    p.add_argument("--output", metavar="PATH", help="artifact stem (default: NAME_baselines beside --data)")
    p.add_argument("--store", metavar="URL", help="store holding the vector bank (default: the set's meta)")
    p.add_argument("--no-ridge", dest="ridge", action="store_false", help="skip the ridge regression")
    p.add_argument(
        "--recall-windows", type=int, default=5000, help="validation windows ranked (whole articles)"
    )
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.lvm.baselines import evaluate_baselines
    from lvmgate.training.trainer import TrainConfig, load_data

    cfg = TrainConfig(data=args.data, output="unused.pt", val_data=args.val_data, store=args.store)
    train, val, val_path = load_data(cfg)
    out = Path(args.output) if args.output else Path(args.data).with_name(Path(args.data).stem + "_baselines")
    ev, extra = evaluate_baselines(
        train,
        val,
        cache=out,
        ridge=args.ridge,
        resamples=args.resamples,
        seed=args.seed,
        max_recall_windows=args.recall_windows,
        recompute=True,
    )
    print(
        f"{len(val):,} validation windows from {ev.n_articles:,} held-out articles ({val_path}); "
        f"hit@k over all {ev.bank_rows:,} bank vectors ({ev.n_recall_windows:,} windows ranked)"
    )
    print(f"{'predictor':<14} {'cosine':>26} {'next-vs-context':>26} {'hit@10':>26}")
    for name, m in ev.metrics.items():
        print(f"{name:<14} {m.cosine!s:>26} {m.next_vs_context!s:>26} {m.hit['10']!s:>26}")
    if extra.get("ridge"):
        print(f"ridge: alpha {extra['ridge']['alpha']:g} chosen on held-out training articles")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.npz')}")
    return 0
