"""`lvmgate prepare --store URL --dataset NAME --output artifacts/lvm/NAME.npz [--limit N] ...`.

Plan 2.1 / 4.1: windows of `--context-window` chunks plus the next chunk as target, stride
`--stride`, split by article into train / val (/ test), duplicates dropped; writes NAME.npz,
NAME_val.npz, [NAME_test.npz] and NAME_meta.json (last). See docs/sequences.md.
"""

from __future__ import annotations

import argparse
import os
from urllib.parse import urlparse, urlunparse

from lvmgate.cli._common import add_store_args
from lvmgate.errors import InputError
from lvmgate.results import Provenance
from lvmgate.stores import open_store


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


def portable_url(url: str) -> str:
    """A store URL fit to record: local paths made absolute, passwords removed."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return os.path.abspath(url[len("file://") :] if parsed.scheme == "file" else url)
    if parsed.password:
        host = parsed.hostname or ""
        netloc = f"{parsed.username}@{host}" if parsed.username else host
        if parsed.port:
            netloc += f":{parsed.port}"
        return urlunparse(parsed._replace(netloc=netloc))
    return url


def run(args: argparse.Namespace) -> int:
    from lvmgate.policy import load_policy
    from lvmgate.sequences import Augmentation, PrepareParams, prepare_sequences, set_paths, write_prepared

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
    params.validate()
    paths = set_paths(args.output)
    policy = load_policy()
    augment = Augmentation.from_policy(policy) if args.augment else None
    store = open_store(args.store)
    try:
        info = store.require(args.dataset)
        if info.dim is None:
            raise InputError(
                f"dataset {args.dataset!r} has no vectors (ingest it with --vectors or --encoder)"
            )
        index = store.articles(args.dataset)
        prepared = prepare_sequences(index, store.vectors(args.dataset), params)
        if store.info(args.dataset).fingerprint != info.fingerprint:
            raise InputError(f"dataset {args.dataset!r} changed while preparing; run again")
        url = portable_url(store.url)
    finally:
        store.close()
    c = prepared.counts
    bank = {
        "dataset": args.dataset,
        "store": url,
        "fingerprint": info.fingerprint,
        "n_rows": info.n_rows,
        "dim": info.dim,
        "encoder": info.encoder,
    }
    provenance = Provenance(
        tool="prepare",
        dataset=args.dataset,
        store=url,
        fingerprint=info.fingerprint,
        sample_size=c.n_articles_selected,
        seed=args.seed,
        params=params.to_dict(),
        policy_digest=policy.digest,
    )
    write_prepared(
        prepared, args.output, index=index, bank=bank, augment=augment, provenance=provenance.to_dict()
    )
    per_split = ", ".join(
        f"{k} {c.windows[k]} windows / {c.articles[k]} articles ({100 * c.window_fractions[k]:.1f}%)"
        for k in c.windows
    )
    print(
        f"prepared {c.n_windows} windows of {params.context_window}+1 chunks from "
        f"{c.n_articles_used} of {c.n_articles_selected} articles: {per_split}"
    )
    print(
        f"skipped {c.n_skipped_articles} articles ({c.n_short_articles} shorter than "
        f"{params.context_window + 1} chunks); dropped {c.n_dropped_duplicate} duplicate, "
        f"{c.n_dropped_repeated} repeated-vector, {c.n_dropped_invalid} invalid-vector windows"
    )
    if args.limit is not None and args.limit > c.n_articles_available:
        print(f"note: --limit {args.limit} exceeds the {c.n_articles_available} articles available; used all")
    if c.n_order_breaks:
        print(f"warning: {c.n_order_breaks} chunk_index breaks inside articles; no window crosses one")
    print(f"wrote {', '.join(str(paths[k]) for k in (*c.windows, 'meta'))}")
    return 0
