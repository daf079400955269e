"""Plan 2.1 / 4.1: turn a dataset's article index and vector bank into leak-proof window sets.

Pipeline (each step counted, nothing dropped silently):
1. choose articles (`limit`, by seeded hash rank) and build windows over them (windows.py);
2. scan the bank rows the windows use once: content hashes and NaN/inf/zero rows (content.py);
   invalid rows are an error unless `skip_invalid`, which drops the windows touching them;
3. drop windows in which one vector occurs twice (a duplicated chunk: the target would be a copy
   of a context vector, or the context repeats itself), unless `drop_repeated=False`;
4. drop windows identical in content (context + target vectors) to an earlier window in canonical
   order, so no sequence appears twice anywhere, in particular never in two splits;
5. split the surviving articles into train / val / test by article, sized in windows (splits.py).
`write_prepared` then writes NAME.npz, NAME_val.npz, [NAME_test.npz] and NAME_meta.json, each
atomically and the meta last: a set without its meta (or with files not matching the meta's
digests) is incomplete and the loader refuses it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.corpus import ArticleIndex
from lvmgate.errors import InputError
from lvmgate.io import file_sha256, to_jsonable, write_json, write_npz
from lvmgate.results import Result
from lvmgate.sequences.augment import Augmentation
from lvmgate.sequences.content import (
    content_ids,
    duplicate_keys,
    repeated_within,
    rows_digest,
    scan_rows,
)
from lvmgate.sequences.splits import assign_splits, check_fractions, select_articles
from lvmgate.sequences.windows import Windows, _check_int, build_windows

META_FORMAT = "lvmgate.sequences/1"


@dataclass(frozen=True)
class PrepareParams(Result):
    """Everything that decides the content of a prepared set (recorded in the meta)."""

    context_window: int
    stride: int = 2
    val_split: float = 0.1
    test_split: float = 0.0
    seed: int = 0
    limit: int | None = None  # number of articles, chosen by seeded hash rank; None = all
    drop_repeated: bool = True
    skip_invalid: bool = False

    def validate(self) -> None:
        _check_int("context_window", self.context_window)
        _check_int("stride", self.stride)
        _check_int("seed", self.seed, minimum=0)
        if self.limit is not None:
            _check_int("limit", self.limit)
        check_fractions(self.val_split, self.test_split)


@dataclass(frozen=True)
class PrepareCounts(Result):
    """What preparation kept, skipped and dropped, by reason."""

    n_articles_available: int
    n_articles_selected: int
    n_articles_used: int  # articles with at least one window in some split
    n_short_articles: int  # fewer than context_window + 1 chunks
    n_skipped_articles: int  # selected but left without windows (short, broken order or drops)
    n_order_breaks: int  # rows whose chunk_index does not follow the previous row's
    n_nonfinite_rows: int
    n_zero_rows: int
    n_duplicate_rows: int  # rows whose vector equals an earlier row's (duplicated chunks)
    n_windows_built: int
    n_dropped_invalid: int
    n_dropped_repeated: int
    n_dropped_duplicate: int
    n_windows: int
    windows: dict[str, int]
    articles: dict[str, int]
    window_fractions: dict[str, float]
    article_fractions: dict[str, float]


@dataclass(frozen=True)
class PreparedSequences:
    """The in-memory result of `prepare_sequences`: windows per split plus counts."""

    params: PrepareParams
    counts: PrepareCounts
    splits: dict[str, Windows] = field(repr=False)
    split_articles: dict[str, np.ndarray] = field(repr=False)  # sorted article numbers per split
    skipped_articles: np.ndarray = field(repr=False)  # selected article numbers without windows
    rows_digests: dict[str, str] = field(repr=False)

    def __str__(self) -> str:
        return f"PreparedSequences\n{self.params}\n{self.counts}"


def _covered(starts: np.ndarray, span: int, n_rows: int) -> np.ndarray:
    """Sorted rows covered by windows starting at `starts` with `span` rows each."""
    mark = np.zeros(n_rows, dtype=bool)
    for j in range(span):
        mark[starts + j] = True
    return np.flatnonzero(mark)


def prepare_sequences(index: ArticleIndex, bank: np.ndarray, params: PrepareParams) -> PreparedSequences:
    """Windows per split for one dataset; `bank` is its (n_rows, D) vector array (a memmap is fine)."""
    params.validate()
    w, n_rows = params.context_window, index.n_rows
    if bank is None or getattr(bank, "ndim", 0) != 2:
        raise InputError("the vector bank must be a 2-D array (n_rows, D); does the dataset have vectors?")
    if bank.shape[0] != n_rows:
        raise InputError(f"vector bank has {bank.shape[0]} rows but the article index has {n_rows}")
    selected = select_articles(index.ids, params.limit, params.seed)
    windows, wstats = build_windows(index, w, params.stride, articles=selected)
    if len(windows) == 0:
        raise InputError(
            f"no windows: {wstats.n_articles} article(s), {wstats.n_short_articles} shorter than "
            f"context_window + 1 = {w + 1} chunks, {wstats.n_order_breaks} chunk_index breaks; "
            "lower --context-window or check the dataset"
        )

    scan = scan_rows(bank, _covered(windows.start, w + 1, n_rows))
    slot0 = np.searchsorted(scan.rows, windows.start)  # (N,) scanned slot of each window's first row
    keep = np.ones(len(windows), dtype=bool)
    invalid = scan.invalid
    if invalid.size:
        if not params.skip_invalid:
            raise InputError(
                f"{invalid.size} row(s) used by windows have invalid vectors ({scan.n_nonfinite} NaN/inf, "
                f"{scan.n_zero} all-zero; first at row {int(invalid[0])}): re-embed them, or pass "
                "--skip-invalid to drop the windows that touch them"
            )
        bad = np.zeros(scan.n_rows + 1, dtype=np.int64)
        bad[1:] = np.cumsum(np.isin(scan.rows, invalid))
        keep &= (bad[slot0 + w + 1] - bad[slot0]) == 0
    n_dropped_invalid = int(np.count_nonzero(~keep))

    content = content_ids(bank, scan)  # (M,) smallest position holding the same vector
    if invalid.size:  # invalid rows are reported as such, not as duplicates of each other
        is_bad = np.isin(scan.rows, invalid)
        content[is_bad] = scan.rows[is_bad]
    n_duplicate_rows = int(np.count_nonzero(content != scan.rows))
    n_dropped_repeated = n_dropped_duplicate = 0
    if n_duplicate_rows:  # identical rows exist: windows can repeat a vector or repeat each other
        kept = np.flatnonzero(keep)
        keys = content[slot0[kept, None] + np.arange(w + 1)]  # (K, w+1) content ids
        if params.drop_repeated:
            rep = repeated_within(keys)
            n_dropped_repeated = int(np.count_nonzero(rep))
            keep[kept[rep]] = False
            kept, keys = kept[~rep], keys[~rep]
        dup = duplicate_keys(keys)
        n_dropped_duplicate = int(np.count_nonzero(dup))
        keep[kept[dup]] = False
    windows = windows.take(keep)
    if len(windows) == 0:
        raise InputError("no windows left after dropping invalid, repeated and duplicate windows")

    per_article = np.bincount(windows.article, minlength=index.n_articles)
    split_articles = assign_splits(
        index.ids,
        selected,
        per_article[selected],
        val_split=params.val_split,
        test_split=params.test_split,
        seed=params.seed,
    )
    split_of = np.full(index.n_articles, -1, dtype=np.int8)
    for code, arts in enumerate(split_articles.values()):
        split_of[arts] = code
    window_split = split_of[windows.article]
    splits: dict[str, Windows] = {}
    digests: dict[str, str] = {}
    for code, name in enumerate(split_articles):
        part = windows.take(window_split == code)
        splits[name] = part
        rows = _covered(part.start, w + 1, n_rows)
        digests[name] = rows_digest(rows, scan.hashes[np.searchsorted(scan.rows, rows)])
    n = len(windows)
    used = sum(len(a) for a in split_articles.values())
    counts = PrepareCounts(
        n_articles_available=index.n_articles,
        n_articles_selected=len(selected),
        n_articles_used=used,
        n_short_articles=wstats.n_short_articles,
        n_skipped_articles=len(selected) - used,
        n_order_breaks=wstats.n_order_breaks,
        n_nonfinite_rows=scan.n_nonfinite,
        n_zero_rows=scan.n_zero,
        n_duplicate_rows=n_duplicate_rows,
        n_windows_built=wstats.n_windows,
        n_dropped_invalid=n_dropped_invalid,
        n_dropped_repeated=n_dropped_repeated,
        n_dropped_duplicate=n_dropped_duplicate,
        n_windows=n,
        windows={k: len(v) for k, v in splits.items()},
        articles={k: len(v) for k, v in split_articles.items()},
        window_fractions={k: len(v) / n for k, v in splits.items()},
        article_fractions={k: len(v) / used for k, v in split_articles.items()},
    )
    skipped = np.setdiff1d(selected, np.concatenate(list(split_articles.values())))
    return PreparedSequences(params, counts, splits, split_articles, skipped, digests)


# -- files ---------------------------------------------------------------------------------------
def set_paths(output: str | os.PathLike) -> dict[str, Path]:
    """File names of a set whose training file is `output` (NAME.npz)."""
    out = Path(output)
    if out.suffix != ".npz" or not out.stem:
        raise InputError(f"--output must name a .npz file (NAME.npz), got {str(output)!r}")
    base = out.with_suffix("")
    return {
        "train": out,
        "val": base.with_name(base.name + "_val.npz"),
        "test": base.with_name(base.name + "_test.npz"),
        "meta": base.with_name(base.name + "_meta.json"),
    }


def write_prepared(
    prepared: PreparedSequences,
    output: str | os.PathLike,
    *,
    index: ArticleIndex,
    bank: dict[str, Any],
    augment: Augmentation | None = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the split files then the meta (last); returns the paths written.

    `bank` names the vector bank: {"dataset", "store", "fingerprint", "n_rows", "dim", ...}.
    An existing meta of the same name is removed first, so an interrupted overwrite never pairs old
    metadata with new arrays; stale NAME_val/NAME_test files are removed when those splits are not written.
    """
    paths = set_paths(output)
    with contextlib.suppress(FileNotFoundError):
        paths["meta"].unlink()
    for name in ("val", "test"):  # stale held-out files of an earlier run would mislead
        if name not in prepared.splits:
            with contextlib.suppress(FileNotFoundError):
                paths[name].unlink()
    w = prepared.params.context_window
    requested = {"val": prepared.params.val_split, "test": prepared.params.test_split}
    requested["train"] = 1.0 - requested["val"] - requested["test"]
    split_meta: dict[str, Any] = {}
    written: dict[str, Path] = {}
    for name, win in prepared.splits.items():
        path = paths[name]
        write_npz(
            path,
            context=win.context,  # (N, w) int64 canonical rows
            target=win.target,  # (N,) int64
            article=win.article,  # (N,) int64 article numbers
            first_chunk=np.asarray(index.chunk_index)[win.start],  # (N,) chunk_index of context[:, 0]
            split=np.array(name),
            meta_file=np.array(paths["meta"].name),
        )
        written[name] = path
        arts = prepared.split_articles[name]
        split_meta[name] = {
            "file": path.name,
            "sha256": file_sha256(path),
            "n_windows": len(win),
            "n_articles": len(arts),
            "requested_fraction": requested[name],
            "window_fraction": prepared.counts.window_fractions[name],
            "article_fraction": prepared.counts.article_fractions[name],
            "rows_digest": prepared.rows_digests[name],
            "article_ids": [str(a) for a in np.asarray(index.ids)[arts]],
        }
    meta = {
        "format": META_FORMAT,
        "name": paths["train"].stem,
        "bank": bank,
        "params": {
            **prepared.params.to_dict(),
            "article_selection": "hash-rank" if prepared.params.limit else "all",
            "split_unit": "article; sized by windows",
            "dedup": "vector content of context + target (exact)",
        },
        "augment": {"enabled": augment is not None, **(augment.to_dict() if augment else {})},
        "shape": {"context_window": w, "dim": bank.get("dim")},
        "counts": prepared.counts.to_dict(),
        "splits": split_meta,
        "skipped_article_ids": [str(a) for a in np.asarray(index.ids)[prepared.skipped_articles]],
        "chunk_ids": "context/target are canonical row positions of bank.dataset; row r is chunk "
        "(article_id of `article`, first_chunk + (r - context[:, 0])) in that dataset",
        "provenance": to_jsonable(provenance or {}),
    }
    written["meta"] = write_json(paths["meta"], meta)
    return written


# -- from a store --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrepareReport(Result):
    """What `prepare_dataset` did: the counts, the files written, and the lines a user reads."""

    dataset: str
    counts: PrepareCounts
    paths: dict[str, str]
    lines: tuple[str, ...]


def prepare_dataset(
    store_url: str | None,
    dataset: str,
    output: str | os.PathLike,
    params: PrepareParams,
    *,
    augment: bool = False,
) -> PrepareReport:
    """Plan 2.1 / 4.1 end to end: read `dataset` from the store, build and split the windows, write
    the set (meta last) with its provenance. `lvmgate prepare` and the grid both call this."""
    from lvmgate.io import portable_url
    from lvmgate.policy import load_policy
    from lvmgate.results import Provenance
    from lvmgate.stores import open_store

    params.validate()
    paths = set_paths(output)
    policy = load_policy()
    aug = Augmentation.from_policy(policy) if augment else None
    with open_store(store_url) as store:
        info = store.require(dataset)
        if info.dim is None:
            raise InputError(f"dataset {dataset!r} has no vectors (ingest it with --vectors or --encoder)")
        index = store.articles(dataset)
        prepared = prepare_sequences(index, store.vectors(dataset), params)
        if store.info(dataset).fingerprint != info.fingerprint:
            raise InputError(f"dataset {dataset!r} changed while preparing; run again")
        url = portable_url(store.url)
    c = prepared.counts
    bank = {
        "dataset": dataset,
        "store": url,
        "fingerprint": info.fingerprint,
        "n_rows": info.n_rows,
        "dim": info.dim,
        "encoder": info.encoder,
    }
    provenance = Provenance(
        tool="prepare",
        dataset=dataset,
        store=url,
        fingerprint=info.fingerprint,
        sample_size=c.n_articles_selected,
        seed=params.seed,
        params=params.to_dict(),
        policy_digest=policy.digest,
    )
    write_prepared(prepared, output, index=index, bank=bank, augment=aug, provenance=provenance.to_dict())
    return PrepareReport(dataset, c, {k: str(v) for k, v in paths.items()}, _summary(c, params, paths))


def _summary(c: PrepareCounts, params: PrepareParams, paths: dict[str, Path]) -> tuple[str, ...]:
    per_split = ", ".join(
        f"{k} {c.windows[k]} windows / {c.articles[k]} articles ({100 * c.window_fractions[k]:.1f}%)"
        for k in c.windows
    )
    lines = [
        f"prepared {c.n_windows} windows of {params.context_window}+1 chunks from "
        f"{c.n_articles_used} of {c.n_articles_selected} articles: {per_split}",
        f"skipped {c.n_skipped_articles} articles ({c.n_short_articles} shorter than "
        f"{params.context_window + 1} chunks); dropped {c.n_dropped_duplicate} duplicate, "
        f"{c.n_dropped_repeated} repeated-vector, {c.n_dropped_invalid} invalid-vector windows",
    ]
    if params.limit is not None and params.limit > c.n_articles_available:
        lines.append(
            f"note: --limit {params.limit} exceeds the {c.n_articles_available} articles available; used all"
        )
    if c.n_order_breaks:
        lines.append(f"warning: {c.n_order_breaks} chunk_index breaks inside articles; no window crosses one")
    lines.append(f"wrote {', '.join(str(paths[k]) for k in (*c.windows, 'meta'))}")
    return tuple(lines)
