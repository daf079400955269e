"""A folder built once per test run, also when pytest-xdist runs the tests in several processes:
expensive test inputs (trained models, prepared corpora) are made by one process and read by all."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """`build(folder)` once; every later call (any process of this run) gets the finished folder.
    xdist workers share the base temp folder's parent; a file lock orders them."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    path = root / name
    with FileLock(str(path) + ".lock"):
        if not (path / "ready").exists():
            build(path)
            (path / "ready").write_text("ok")
    return path
