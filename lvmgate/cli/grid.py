"""`lvmgate grid --config GRID.toml [--out-dir runs/grid]`: plan 3.1's hyperparameter grid search.

Prepares windows once per context window, trains every run through the trainer (each with its own
JSON log, checkpoints and TensorBoard folder under OUT/runs/NAME/), resumes what was interrupted,
skips what already completed (verified by the model's sha256 in its log), then writes
OUT/grid_summary.json and OUT/grid_summary.md and prints the table. See docs/phase3.md.

Exit codes: 0 summary written and a best run chosen, 1 no run completed without red flags,
2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("grid", help="run the plan's 3.1 hyperparameter grid (resumable) and pick the best")
    p.add_argument("--config", required=True, metavar="GRID.toml", help="the grid (examples/grid_*.toml)")
    p.add_argument("--out-dir", default="runs/grid", metavar="DIR", help="grid folder (default runs/grid)")
    p.add_argument("--store", metavar="URL", help="override [data] store")
    p.add_argument("--dataset", metavar="NAME", help="override [data] dataset")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads for every run")
    p.add_argument("--device", default=None, help="override [train] device (auto | cpu | cuda | mps)")
    p.add_argument("--retry-failed", action="store_true", help="train runs that failed earlier again")
    p.add_argument("--dry-run", action="store_true", help="print the planned runs and exit")
    p.add_argument("--summary-only", action="store_true", help="train nothing; summarise what is on disk")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed of the summary's intervals")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.grid import (
        describe_plan,
        load_grid,
        render_markdown,
        run_grid,
        summarize_grid,
        write_summary,
    )
    from lvmgate.policy import load_policy

    spec = load_grid(args.config, store=args.store, dataset=args.dataset)
    if args.dry_run:
        print(describe_plan(spec))
        return 0
    policy = load_policy()
    kw = dict(
        resamples=int(policy.param("bootstrap_resamples")),
        seed=args.seed,
        max_recall_windows=policy.param("recall_max_windows"),
    )
    if args.summary_only:
        summary = summarize_grid(args.out_dir, **kw)
        write_summary(summary, args.out_dir)
    else:
        summary = run_grid(
            spec, args.out_dir, retry_failed=args.retry_failed, threads=args.threads, device=args.device, **kw
        )
    print(render_markdown(summary))
    print(f"wrote {args.out_dir}/grid_summary.json and {args.out_dir}/grid_summary.md")
    return 0 if summary.best else 1
