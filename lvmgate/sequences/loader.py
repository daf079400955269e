"""Loading prepared sets: verified against their meta and vector bank, batches gathered on the fly.

`SequenceSet.load("artifacts/lvm/NAME.npz")` finds NAME_meta.json beside it, checks the file's
sha256 against the meta (a set without meta, or with files from another run, is refused), then
opens the bank: the store and dataset named in the meta, refused unless its fingerprint still
matches, or an explicit (n_rows, D) array checked by a digest of the rows the windows use.
Batches are (B, w, D) float32 contexts and (B, D) targets, shuffled per epoch with a seeded
generator and augmented on the fly when the set asks for it (training split only).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.corpus import ArticleIndex
from lvmgate.errors import InputError
from lvmgate.io import file_sha256, read_json
from lvmgate.sequences.augment import Augmentation
from lvmgate.sequences.content import rows_digest, scan_rows
from lvmgate.sequences.prepare import META_FORMAT

MATERIALIZE_LIMIT = 4 << 30  # bytes: materialize() refuses bigger sets (use batches())


def covered_rows(context: np.ndarray, target: np.ndarray, n_rows: int) -> np.ndarray:
    """Sorted distinct rows referenced by (N, w) contexts and (N,) targets."""
    mark = np.zeros(n_rows, dtype=bool)
    mark[np.asarray(context).ravel()] = True
    mark[np.asarray(target)] = True
    return np.flatnonzero(mark)


def meta_path_for(path: str | os.PathLike) -> Path:
    """The NAME_meta.json that lists `path` (NAME.npz, NAME_val.npz, NAME_test.npz or the meta)."""
    p = Path(path)
    if p.suffix == ".json":
        return p
    candidates = [p.with_name(p.stem + "_meta.json")]
    for suffix in ("_val", "_test"):
        if p.stem.endswith(suffix):
            candidates.append(p.with_name(p.stem[: -len(suffix)] + "_meta.json"))
    for c in candidates:
        if c.is_file():
            splits = read_json(c).get("splits", {})
            if any(s.get("file") == p.name for s in splits.values()):
                return c
    if not p.exists():
        raise InputError(f"{p}: no such file")
    raise InputError(
        f"{p}: no *_meta.json beside it lists this file; the set is incomplete (interrupted "
        "preparation?) or was not written by `lvmgate prepare`"
    )


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    meta = read_json(path)
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise InputError(f"{path}: not a prepared-sequences meta file (format {META_FORMAT})")
    return meta


def _load_split(folder: Path, name: str, entry: dict, n_rows: int, verify: bool) -> dict[str, np.ndarray]:
    path = folder / entry["file"]
    if not path.is_file():
        raise InputError(f"{path}: missing ({name} split listed in the meta); the set is incomplete")
    if verify and file_sha256(path) != entry["sha256"]:
        raise InputError(f"{path}: contents differ from the meta (rewritten or from another run)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("context", "target", "article")}
            if "first_chunk" in z.files:
                arrays["first_chunk"] = z["first_chunk"]
    except (zipfile.BadZipFile, ValueError, KeyError, OSError) as exc:
        raise InputError(f"{path}: not a readable sequence file ({exc})") from None
    ctx, tgt = arrays["context"], arrays["target"]
    if ctx.ndim != 2 or tgt.shape != (len(ctx),) or arrays["article"].shape != (len(ctx),):
        raise InputError(f"{path}: expected context (N, w), target (N,), article (N,)")
    if len(ctx) and (min(ctx.min(), tgt.min()) < 0 or max(ctx.max(), tgt.max()) >= n_rows):
        raise InputError(f"{path}: row positions outside the bank's {n_rows} rows")
    return arrays


def _store_bank(meta: dict, store: str | None) -> tuple[Any, Any]:
    """Open the meta's store, check the dataset fingerprint; returns (store, info). Caller closes."""
    from lvmgate.stores import open_store

    src = meta["bank"]
    url = store or src.get("store")
    st = open_store(url)
    try:
        info = st.require(src["dataset"])
        if info.fingerprint != src.get("fingerprint"):
            raise InputError(
                f"dataset {src['dataset']!r} in {st.url} changed since the set was prepared "
                f"(fingerprint {info.fingerprint} != {src.get('fingerprint')}); prepare it again"
            )
    except BaseException:
        st.close()
        raise
    return st, info


def _check_bank(bank: np.ndarray, meta: dict, splits: dict[str, dict], verify: bool) -> None:
    src = meta["bank"]
    if getattr(bank, "ndim", 0) != 2:
        raise InputError("bank must be a 2-D (n_rows, D) array")
    want = (src.get("n_rows"), src.get("dim"))
    if tuple(bank.shape) != want:
        raise InputError(f"bank has shape {tuple(bank.shape)}, the set was prepared on {want}")
    if not verify:
        return
    for name, arrays in splits.items():
        rows = covered_rows(arrays["context"], arrays["target"], bank.shape[0])
        scan = scan_rows(bank, rows)
        if rows_digest(rows, scan.hashes) != meta["splits"][name].get("rows_digest"):
            raise InputError(f"bank vectors differ from those the {name} split was prepared on")


def _load(path, bank, store, verify, only: str | None) -> tuple[dict, dict[str, dict], Any, str]:
    mpath = meta_path_for(path)
    meta = read_meta(mpath)
    n_rows = int(meta["bank"]["n_rows"])
    names = list(meta["splits"])
    if only is not None:
        names = [n for n in names if meta["splits"][n]["file"] == Path(path).name] or names[:1]
    splits = {n: _load_split(mpath.parent, n, meta["splits"][n], n_rows, verify) for n in names}
    if bank is not None:
        _check_bank(bank, meta, splits, verify)
        return meta, splits, bank, "explicit array"
    st, _info = _store_bank(meta, store)
    try:
        vectors = st.vectors(meta["bank"]["dataset"])
    finally:
        st.close()
    return meta, splits, vectors, f"{meta['bank']['dataset']} in {st.url}"


class SequenceSet:
    """One split: (N, w) context rows, (N,) target rows and (N,) article numbers, plus the bank."""

    def __init__(
        self,
        context: np.ndarray,
        target: np.ndarray,
        article: np.ndarray,
        *,
        bank: np.ndarray | None = None,
        split: str = "train",
        meta: dict[str, Any] | None = None,
        first_chunk: np.ndarray | None = None,
    ):
        self.context = np.asarray(context, dtype=np.int64)  # (N, w)
        self.target = np.asarray(target, dtype=np.int64)  # (N,)
        self.article = np.asarray(article, dtype=np.int64)  # (N,)
        if self.context.ndim != 2 or self.target.shape != (len(self.context),):
            raise InputError("context must be (N, w) and target (N,)")
        if self.article.shape != self.target.shape:
            raise InputError("article must be (N,) like target")
        self.bank = bank
        self.split = split
        self.meta = meta or {}
        self.first_chunk = first_chunk

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        bank: np.ndarray | None = None,
        store: str | None = None,
        verify: bool = True,
    ) -> SequenceSet:
        """One split file, with its bank from the meta's store (or `store`) or the array given."""
        meta, splits, vectors, _ = _load(path, bank, store, verify, only=str(path))
        ((name, arrays),) = splits.items()
        return cls(bank=vectors, split=name, meta=meta, **arrays)

    def __len__(self) -> int:
        return len(self.target)

    def __repr__(self) -> str:
        return f"SequenceSet(split={self.split!r}, shape={self.shape})"

    @property
    def context_window(self) -> int:
        return int(self.context.shape[1])

    @property
    def shape(self) -> tuple[int, int, int | None]:
        """(N, w, D) of the materialised contexts."""
        dim = None if self.bank is None else int(self.bank.shape[1])
        return (len(self), self.context_window, dim)

    @property
    def seed(self) -> int:
        return int(self.meta.get("params", {}).get("seed", 0))

    def augmentation(self) -> Augmentation | None:
        """The set's own augmentation (meta `augment`), for the training split only."""
        aug = self.meta.get("augment") or {}
        if self.split != "train" or not aug.get("enabled"):
            return None
        return Augmentation.from_dict(aug)

    def subset(self, idx: np.ndarray) -> SequenceSet:
        """Windows `idx` of this split (index arrays only; the bank is shared, not copied)."""
        idx = np.asarray(idx, dtype=np.int64)
        first = None if self.first_chunk is None else self.first_chunk[idx]
        return SequenceSet(
            self.context[idx], self.target[idx], self.article[idx],
            bank=self.bank, split=self.split, meta=self.meta, first_chunk=first,
        )  # fmt: skip

    def _need_bank(self) -> np.ndarray:
        if self.bank is None:
            raise InputError("this SequenceSet has no vector bank; load it with a store or pass bank=")
        return self.bank

    def gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, w, D) float32 contexts and (B, D) float32 targets of windows `idx` (rows read sorted)."""
        bank = self._need_bank()
        idx = np.asarray(idx, dtype=np.int64)
        b, w = len(idx), self.context_window
        rows = np.concatenate([self.context[idx].ravel(), self.target[idx]])
        uniq, inv = np.unique(rows, return_inverse=True)
        vecs = np.asarray(bank[uniq], dtype=np.float32)  # (U, D), one sorted read
        ctx = vecs[inv[: b * w]].reshape(b, w, -1)
        return ctx, vecs[inv[b * w :]]

    def batches(
        self,
        batch_size: int = 256,
        *,
        epoch: int = 0,
        seed: int | None = None,
        shuffle: bool = True,
        augment: Augmentation | bool | str = "auto",
        drop_last: bool = False,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (contexts (B, w, D), targets (B, D)) float32; order and augmentation seeded by (seed, epoch).

        augment: "auto" = the set's own setting (train split only), True = the policy defaults
        (or the set's parameters), False = none, or an Augmentation.
        """
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        base = self.seed if seed is None else int(seed)
        n = len(self)
        order = np.random.default_rng([base, epoch, 0]).permutation(n) if shuffle else np.arange(n)
        if isinstance(augment, Augmentation):
            aug: Augmentation | None = augment
        elif augment == "auto":
            aug = self.augmentation()
        elif augment is True:
            saved = self.meta.get("augment") or {}
            aug = Augmentation.from_dict(saved) if "mask_frac" in saved else Augmentation.from_policy()
        else:
            aug = None
        arng = np.random.default_rng([base, epoch, 1])
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            if drop_last and len(idx) < batch_size:
                break
            ctx, tgt = self.gather(idx)
            if aug is not None:
                ctx = aug.apply(ctx, arng)
            yield ctx, tgt

    def materialize(self, *, max_bytes: int = MATERIALIZE_LIMIT) -> tuple[np.ndarray, np.ndarray]:
        """The plan's (N, w, D) float32 context array and (N, D) targets, for small sets."""
        n, w, d = self.shape
        need = 4 * n * (w + 1) * int(d or 0)
        if need > max_bytes:
            raise InputError(
                f"materialising {n} windows needs {need / 2**30:.1f} GiB (> {max_bytes / 2**30:.1f}); "
                "iterate with batches() instead"
            )
        return self.gather(np.arange(n))


@dataclass
class PreparedSet:
    """All splits of one prepared set, sharing one bank, plus the meta they were written with."""

    splits: dict[str, SequenceSet]
    meta: dict[str, Any]
    bank: np.ndarray | None = None

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        bank: np.ndarray | None = None,
        store: str | None = None,
        verify: bool = True,
    ) -> PreparedSet:
        """Every split listed in the meta of `path` (any split file or the meta itself)."""
        meta, splits, vectors, _ = _load(path, bank, store, verify, only=None)
        sets = {n: SequenceSet(bank=vectors, split=n, meta=meta, **a) for n, a in splits.items()}
        return cls(sets, meta, vectors)

    @classmethod
    def from_arrays(
        cls,
        splits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
        bank: np.ndarray,
        *,
        requested: dict[str, float] | None = None,
        dataset: str = "",
    ) -> PreparedSet:
        """A set built in memory from (context, target, article) per split, e.g. to check one."""
        requested = requested or {}
        first = next(iter(splits.values()))
        meta = {
            "format": META_FORMAT,
            "bank": {"dataset": dataset, "n_rows": int(bank.shape[0]), "dim": int(bank.shape[1])},
            "params": {
                "context_window": int(np.asarray(first[0]).shape[1]),
                "val_split": requested.get("val"),
                "test_split": requested.get("test"),
            },
            "splits": {n: {"n_windows": len(t)} for n, (_c, t, _a) in splits.items()},
        }
        sets = {n: SequenceSet(c, t, a, bank=bank, split=n, meta=meta) for n, (c, t, a) in splits.items()}
        return cls(sets, meta, bank)

    def __getitem__(self, name: str) -> SequenceSet:
        try:
            return self.splits[name]
        except KeyError:
            raise KeyError(f"no split {name!r} (have {', '.join(self.splits)})") from None

    def article_index(self, store: str | None = None) -> ArticleIndex:
        """The bank dataset's ArticleIndex from the meta's store (fingerprint-checked)."""
        st, _info = _store_bank(self.meta, store)
        try:
            return st.articles(self.meta["bank"]["dataset"])
        finally:
            st.close()
