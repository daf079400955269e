"""The two inputs of plan 2.3: the held-out test set (a prepared split or a JSONL of chunks with their
vectors in a store) and the model under test (any `--lvm-model`, with its training log).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.io import file_sha256
from lvmgate.lvm.load import LoadedModel


# --------------------------------------------------------------------------------------------------
# the test set
@dataclass
class TestSet:
    """Held-out windows over one bank: (N, w) context rows, (N,) target rows, (N,) article ids.

    Holds the open store the bank and texts come from; `close()` it when done.
    """

    __test__ = False  # not a pytest class

    path: str
    kind: str  # "prepared" | "jsonl"
    split: str  # "test", "val" or "jsonl"
    context: np.ndarray
    target: np.ndarray
    article_ids: np.ndarray  # (N,) str
    bank: Any  # (n_rows, D), possibly a memmap
    dataset: str
    store: Any
    fingerprint: str
    encoder: str | None
    sha256: str
    prepared_meta: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def context_window(self) -> int:
        return int(self.context.shape[1])

    @property
    def dim(self) -> int:
        return int(self.bank.shape[1])

    def texts(self, rows: np.ndarray) -> list[str]:
        return self.store.texts(self.dataset, np.asarray(rows, dtype=np.int64))

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(Path(self.path).resolve()),
            "kind": self.kind,
            "split": self.split,
            "sha256": self.sha256,
            "n_windows": len(self.target),
            "n_articles": len(np.unique(self.article_ids)),
            "context_window": self.context_window,
            "dataset": self.dataset,
            "store": str(self.store.url),
            "fingerprint": self.fingerprint,
            "dim": self.dim,
            "encoder": self.encoder,
        }

    def close(self) -> None:
        self.store.close()


def load_test_set(
    path: str | os.PathLike,
    *,
    store: str | None = None,
    dataset: str | None = None,
    context_window: int | None = None,
) -> TestSet:
    """The held-out windows named by `path`.

    - `NAME_test.npz` / `NAME_val.npz` from `lvmgate prepare`: its windows as written, its bank
      from the meta's store (or `store`), fingerprint-checked by the loader. The training split
      is refused.
    - `*.jsonl`: chunk records (article_id, chunk_index, text, ...) of held-out articles of
      `dataset` in `store`. Every listed chunk whose `context_window` predecessors in its article
      are listed too becomes a target; vectors and rows come from the bank, and a record whose
      text differs from the bank's chunk is refused (another dataset, or re-chunked).
    """
    from lvmgate.stores import open_store

    p = Path(path)
    if not p.is_file():
        raise InputError(f"--test-set {p}: no such file")
    if p.suffix == ".npz":
        return _load_prepared(p, store)
    if p.suffix in (".jsonl", ".json"):
        if not dataset:
            raise InputError(f"--test-set {p} is a JSONL of chunk records: pass --dataset (and --store)")
        st = open_store(store)
        try:
            return _load_jsonl(p, st, dataset, context_window or 5)
        except BaseException:
            st.close()
            raise
    raise InputError(
        f"--test-set {p}: expected a prepared split (NAME_test.npz from `lvmgate prepare --test-split`) "
        "or a JSONL of chunk records"
    )


def _load_prepared(p: Path, store: str | None) -> TestSet:
    from lvmgate.sequences.loader import SequenceSet
    from lvmgate.stores import open_store

    s = SequenceSet.load(p, store=store)
    if s.split == "train":
        raise InputError(
            f"--test-set {p} is the training split; pass the held-out file (NAME_test.npz or NAME_val.npz)"
        )
    if len(s) == 0:
        raise InputError(f"--test-set {p} has no windows")
    bank_meta = s.meta["bank"]
    st = open_store(store or bank_meta.get("store"))
    try:
        index = st.articles(bank_meta["dataset"])
        ids = np.asarray(index.ids, dtype=object)[s.article].astype(str)
    except BaseException:
        st.close()
        raise
    return TestSet(
        path=str(p),
        kind="prepared",
        split=s.split,
        context=s.context,
        target=s.target,
        article_ids=ids,
        bank=s.bank,
        dataset=bank_meta["dataset"],
        store=st,
        fingerprint=str(bank_meta.get("fingerprint")),
        encoder=bank_meta.get("encoder"),
        sha256=s.meta["splits"][s.split]["sha256"],
        prepared_meta=s.meta,
    )


def _load_jsonl(p: Path, st: Any, dataset: str, w: int) -> TestSet:
    from lvmgate.corpus import read_records

    if int(w) < 1:
        raise InputError(f"--context-window must be at least 1, got {w}")
    info = st.require(dataset)
    if info.dim is None:
        raise InputError(f"dataset {dataset!r} has no vectors")
    index = st.articles(dataset)
    article_no = {str(a): i for i, a in enumerate(index.ids.tolist())}
    listed: dict[str, dict[int, str]] = {}
    for rec in read_records(p):
        if rec.article_id not in article_no:
            raise InputError(f"{p}: article {rec.article_id!r} is not in dataset {dataset!r}")
        listed.setdefault(rec.article_id, {})[int(rec.chunk_index)] = rec.text
    if not listed:
        raise InputError(f"{p}: no chunk records")
    ctx_rows, tgt_rows, arts, check_rows, check_texts = [], [], [], [], []
    for aid, chunks in listed.items():
        a = article_no[aid]
        lo, hi = int(index.offsets[a]), int(index.offsets[a + 1])
        row_of = {int(c): lo + j for j, c in enumerate(index.chunk_index[lo:hi].tolist())}
        for c, text in chunks.items():
            if c not in row_of:
                raise InputError(f"{p}: article {aid!r} has no chunk {c} in dataset {dataset!r}")
            check_rows.append(row_of[c])
            check_texts.append(text)
        for c in sorted(chunks):
            need = [c - j for j in range(w, 0, -1)]
            if all(x in chunks and x in row_of for x in need):
                rows = [row_of[x] for x in need]
                if rows == list(range(rows[0], rows[0] + w)) and row_of[c] == rows[-1] + 1:
                    ctx_rows.append(rows)
                    tgt_rows.append(row_of[c])
                    arts.append(aid)
    stored = st.texts(dataset, np.asarray(check_rows, dtype=np.int64))
    for row, given, have in zip(check_rows, check_texts, stored):
        if given.strip() != have.strip():
            raise InputError(
                f"{p}: the text of row {row} differs from dataset {dataset!r}'s chunk "
                "(another dataset, or re-chunked since)"
            )
    if not tgt_rows:
        raise InputError(f"{p}: no chunk has its {w} predecessors listed too; list whole held-out articles")
    return TestSet(
        path=str(p),
        kind="jsonl",
        split="jsonl",
        context=np.asarray(ctx_rows, dtype=np.int64),
        target=np.asarray(tgt_rows, dtype=np.int64),
        article_ids=np.asarray(arts, dtype=object).astype(str),
        bank=st.vectors(dataset),
        dataset=dataset,
        store=st,
        fingerprint=info.fingerprint,
        encoder=info.encoder,
        sha256=file_sha256(p),
    )


# --------------------------------------------------------------------------------------------------
# the model and what it was trained on
@dataclass
class ModelUnderTest:
    """The predictor compared, and what its training log says about its data (when it has one)."""

    spec: str
    predict: Callable[[np.ndarray], np.ndarray]
    dim: int | None
    kind: str  # "checkpoint" | "predictor"
    info: dict[str, Any] = field(default_factory=dict)
    log: dict[str, Any] | None = field(default=None, repr=False)
    loaded: LoadedModel | None = field(default=None, repr=False)

    @property
    def train_data(self) -> dict[str, Any]:
        return ((self.log or {}).get("data") or {}).get("train") or {}

    @property
    def context_window(self) -> int | None:
        w = self.train_data.get("context_window")
        return int(w) if w else None


def load_model(spec: str, *, device: str | None = None) -> ModelUnderTest:
    """Any `--lvm-model` value (lvmgate.lvm.load), with the training log of a checkpoint (if any)."""
    from lvmgate.lvm.load import load_model as load
    from lvmgate.training.logging import TrainingLog

    loaded = load(spec, device=device)
    if loaded.kind != "checkpoint":
        info: dict[str, Any] = {"predictor": loaded.predictor.name}
        if loaded.digest:  # ties this artifact to the model, as lvmgate.readiness.model_identity names it
            info["weights_digest"] = loaded.digest
        return ModelUnderTest(str(spec), loaded.predict, None, "predictor", info, loaded=loaded)
    log_path = Path(loaded.info["training_log"])
    log = TrainingLog.read(log_path).data if log_path.is_file() else None
    info = {k: loaded.info[k] for k in ("path", "sha256", "weights_digest", "config")}
    info["training_log"] = str(log_path) if log else None
    return ModelUnderTest(str(spec), loaded.predict, loaded.dim, "checkpoint", info, log, loaded)


def _trained_on(model: ModelUnderTest) -> dict[str, Any] | None:
    t = model.train_data
    if not t:
        return None
    return {
        k: t.get(k)
        for k in ("path", "dataset", "fingerprint", "store", "context_window", "dim", "n_articles")
    }
