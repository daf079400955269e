"""Options shared by several commands."""

from __future__ import annotations

import argparse


def add_store_args(p: argparse.ArgumentParser, *, dataset_required: bool = True) -> None:
    p.add_argument(
        "--store",
        metavar="URL",
        default=None,
        help="store URL: a directory or sqlite:///x.db (embedded, default ./artifacts/store, "
        "or $LVMGATE_STORE) or postgresql://...",
    )
    p.add_argument(
        "--dataset",
        metavar="NAME",
        required=dataset_required,
        help="dataset name (dataset_source in PostgreSQL)",
    )


def add_progress_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
