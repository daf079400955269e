"""`lvmgate coherence|tmd|boundaries`: the plan's phase-1 tools, one artifact each.

lvmgate coherence --dataset wikipedia_500k --limit 1000 --output artifacts/validation/coherence_batch1.json
"""

from __future__ import annotations

import argparse

from lvmgate.cli._common import add_store_args

HELP = {
    "coherence": "1.1 sequential coherence of consecutive chunk vectors (with null, decay, order margin)",
    "tmd": "1.2 TMD domain distribution (the plan's SQL semantics)",
    "boundaries": "1.3 chunk boundaries: sentence-complete endings, lengths",
}


def register(sub) -> None:
    for tool, text in HELP.items():
        p = sub.add_parser(tool, help=text)
        add_store_args(p)
        p.add_argument("--limit", type=int, default=None, help="sample this many articles (default: all)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument(
            "--policy", default=None, help="lvmgate.toml / pyproject.toml with parameter overrides"
        )
        p.add_argument("--output", default=f"artifacts/validation/{tool}.json", help="artifact path (JSON)")
        p.set_defaults(func=run, tool=tool)


def run(args: argparse.Namespace) -> int:
    from lvmgate.policy import load_policy
    from lvmgate.stores import open_store
    from lvmgate.validation import TOOLS

    policy = load_policy(args.policy)
    with open_store(args.store) as store:
        artifact = TOOLS[args.tool](store, args.dataset, limit=args.limit, seed=args.seed, policy=policy)
    path = artifact.write(args.output)
    print(artifact.result)
    print(f"wrote {path}")
    return 0
