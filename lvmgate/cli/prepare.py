"""`lvmgate prepare --store URL --dataset NAME --output artifacts/lvm/NAME.npz [--limit N] ...`.

Plan 2.1 / 4.1: windows of `--context-window` chunks plus the next chunk as target, stride
`--stride`, split by article into train / val (/ test), duplicates dropped; writes NAME.npz,
NAME_val.npz, [NAME_test.npz] and NAME_meta.json (last). See docs/sequences.md.
"""

from __future__ import annotations

import argparse

from lvmgate.cli._common import add_store_args


def register(sub) -> None:
    p = sub.add_parser(
        "prepare",
        help="build article-disjoint training windows (row indices) from a dataset (plan 2.1 / 4.1)",
    )
    p.add_argument(
        "--output", required=True, metavar="NAME.npz", help="training file; siblings get _val/_test/_meta"
    )
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="number of articles, chosen by seeded hash rank (default: all)",
    )
    p.add_argument("--context-window", type=int, default=5, metavar="W", help="context chunks (default 5)")
    p.add_argument(
        "--stride", type=int, default=2, metavar="S", help="rows between window starts (default 2)"
    )
    p.add_argument(
        "--val-split",
        type=float,
        default=0.1,
        metavar="F",
        help="share of windows held out for val (default 0.1)",
    )
    p.add_argument(
        "--test-split",
        type=float,
        default=0.0,
        metavar="F",
        help="share of windows held out for test (default 0)",
    )
    p.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed for --limit, the splits and batch order"
    )
    p.add_argument(
        "--augment",
        action="store_true",
        help="record the plan's 4.1 augmentation (policy augment_* params); applied on the fly when training",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="drop windows touching NaN/inf/all-zero vectors instead of refusing the dataset",
    )
    p.add_argument(
        "--keep-repeated",
        action="store_true",
        help="keep windows in which one vector occurs twice (duplicated chunks); dropped by default",
    )
    add_store_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.sequences import PrepareParams, prepare_dataset

    params = PrepareParams(
        context_window=args.context_window,
        stride=args.stride,
        val_split=args.val_split,
        test_split=args.test_split,
        seed=args.seed,
        limit=args.limit,
        drop_repeated=not args.keep_repeated,
        skip_invalid=args.skip_invalid,
    )
    report = prepare_dataset(args.store, args.dataset, args.output, params, augment=args.augment)
    print("\n".join(report.lines))
    return 0
