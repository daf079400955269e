"""`lvmgate info`: datasets in a store; for one dataset counts, dimension, norms, zero/NaN rows."""

from __future__ import annotations

import argparse
import json

import numpy as np

from lvmgate.cli._common import add_store_args
from lvmgate.stores import open_store
from lvmgate.stores.base import invalid_rows


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a store or one dataset (counts, dims, norms, zero/NaN rows)")
    add_store_args(p, dataset_required=False)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def dataset_summary(store, dataset: str) -> dict:
    info = store.require(dataset)
    out = {
        "dataset": dataset,
        "chunks": info.n_rows,
        "articles": info.n_articles,
        "dim": info.dim,
        "encoder": info.encoder,
        "has_tmd": info.has_tmd,
        "fingerprint": info.fingerprint,
    }
    lengths = store.articles(dataset).lengths
    out["chunks_per_article"] = {
        "mean": float(lengths.mean()),
        "min": int(lengths.min()),
        "max": int(lengths.max()),
    }
    if info.dim is not None:
        bank = store.vectors(dataset)
        nonfinite, zero = invalid_rows(bank)
        norms = np.concatenate(
            [np.linalg.norm(np.asarray(bank[i : i + 65536]), axis=1) for i in range(0, info.n_rows, 65536)]
        )
        finite = norms[np.isfinite(norms) & (norms > 0)]
        out["norms"] = (
            {"mean": float(finite.mean()), "min": float(finite.min()), "max": float(finite.max())}
            if finite.size
            else None
        )
        out["zero_rows"], out["nan_rows"] = int(zero.size), int(nonfinite.size)
    return out


def run(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    if not args.dataset:
        names = store.datasets()
        rows = [{"dataset": n, "chunks": store.info(n).n_rows, "dim": store.info(n).dim} for n in names]
        if args.json:
            print(json.dumps({"store": store.url, "datasets": rows}, indent=2))
        else:
            print(f"{store.url}: {len(names)} dataset(s)")
            for r in rows:
                print(f"  {r['dataset']:<30} {r['chunks']:>10} chunks  dim={r['dim']}")
        return 0
    summary = dataset_summary(store, args.dataset)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:<20} {value}")
    return 0
