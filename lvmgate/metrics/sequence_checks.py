"""2.1 checks on a prepared training set: shape, window integrity, duplicates, leakage, order signal.

The plan asks: NPZ shape (N, w, 768); sequences in order, not shuffled across articles; no
duplicate sequences. Each becomes a number a gate compares with the policy (ids `2.1.*`):
- shape: the materialised (N, w, D) of the training split equals what the meta promises;
- window integrity, from the dataset's ArticleIndex (not from the file's own claims): every window's
  rows are consecutive positions r..r+w, all in the window's article, with chunk_index rising by 1,
  the target being the next chunk. Catches windows across articles, random or collided positions
  (constant_position, cross_article) and files written against another bank;
- duplicate sequences by vector content across all splits (duplicated chunks at different rows are
  caught), windows that repeat a vector inside themselves (duplicate_chunks: the target is a copy
  of a context vector), and windows using NaN/zero vectors;
- articles shared between splits, from the rows' real articles (a random sequence-level split
  leaks thousands), and the window share of each held-out split against the request;
- order margin: mean cos(target, previous chunk) - cos(target, chunk L back), L = max(w, 2), with an
  article-cluster bootstrap interval. Structural checks cannot see a within-article shuffle whose
  chunk_index was renumbered (synth `shuffled_order`): positions are then consecutive by
  construction. Only the content can: with order lost, the chunk right before a target is no
  closer to it than one L back, and the margin falls to ~0. It is statistical and presumes the
  corpus has sequential signal at all (phase 1.1 establishes that).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lvmgate.corpus import ArticleIndex
from lvmgate.criteria import Criterion
from lvmgate.results import Estimate, Result
from lvmgate.sequences.content import content_ids, duplicate_keys, repeated_within, scan_rows
from lvmgate.sequences.loader import PreparedSet
from lvmgate.stats import cluster_bootstrap_ratio

_BLOCK = 1 << 18  # windows per block in the integrity pass


@dataclass(frozen=True)
class SequenceChecks(Result):
    """What gate 2.1 reads; `criteria()` maps criterion ids to comparable numbers."""

    shape: tuple[int, int, int]  # materialised training contexts (N, w, D)
    expected_shape: tuple[int, int, int]
    shape_mismatch: int  # 0 when equal (and a gathered sample has the same (w, D))
    n_windows: dict[str, int]
    n_articles: dict[str, int]  # distinct articles touched by each split's rows
    out_of_range: int  # windows referencing rows outside the bank / index
    non_consecutive: int  # context rows not r, r+1, ..., r+w-1
    cross_article: int  # rows in more than one article, or not in the window's stored article
    chunk_order_breaks: int  # context chunk_index not rising by 1
    target_not_next: int  # target is not the next chunk of the same article
    bad_windows: int  # windows failing any integrity check above
    duplicate_sequences: int  # windows identical in vector content to an earlier one (all splits)
    repeated_vector_windows: int  # windows holding one vector twice (context + target)
    invalid_vector_windows: int  # windows using a NaN/inf or all-zero vector
    shared_articles: int  # articles whose rows appear in more than one split
    split_fractions: dict[str, float]  # each split's share of all windows
    requested_fractions: dict[str, float]  # val / test shares asked for (meta params)
    split_fraction_error: float  # max |share - request| over held-out splits (val, test)
    order_lag: int
    order_margin: Estimate  # cos(target, lag 1) - cos(target, lag order_lag), article bootstrap
    bank_mismatch: int  # 1 when bank / index / meta disagree on the number of rows or dimension

    dropped: dict[str, int] | None = None  # windows prepare dropped, by reason (None: not recorded)
    n_windows_built: int | None = None  # candidate windows before the drops

    def criteria(self, section: str = "2.1") -> list[Criterion]:
        """The 2.1 criteria (or the same checks as `section`, e.g. 4.1 on the production set)."""
        n = sum(self.n_windows.values())
        ex = Estimate.exact
        held = sum(v for k, v in self.n_windows.items() if k != "train")
        m = Criterion.measured
        s = section
        windows = ", ".join(f"{k} {v:,}" for k, v in self.n_windows.items())
        out = [
            m(f"{s}.shape_mismatch", ex(self.shape_mismatch, 1), f"{self.shape} vs {self.expected_shape}"),
            m(
                f"{s}.bad_windows",
                ex(self.bad_windows, n),
                f"{self.out_of_range} out of range, {self.non_consecutive} non-consecutive, "
                f"{self.cross_article} across articles, {self.chunk_order_breaks} chunk-order breaks, "
                f"{self.target_not_next} targets not the next chunk",
            ),
            m(f"{s}.duplicate_sequences", ex(self.duplicate_sequences, n), f"of {n:,} windows"),
            m(f"{s}.repeated_vector_windows", ex(self.repeated_vector_windows, n), f"of {n:,} windows"),
            m(f"{s}.invalid_vector_windows", ex(self.invalid_vector_windows, n), f"of {n:,} windows"),
            m(
                f"{s}.shared_articles",
                ex(self.shared_articles, sum(self.n_articles.values())),
                "articles per split: " + ", ".join(f"{k} {v:,}" for k, v in self.n_articles.items()),
            ),
            m(
                f"{s}.split_fraction_error",
                ex(self.split_fraction_error, held),
                f"window shares {self.split_fractions}, requested {self.requested_fractions}",
            ),
            m(f"{s}.order_margin", self.order_margin, f"lag 1 vs lag {self.order_lag}")
            if self.order_margin.n
            else Criterion.not_measured(
                f"{s}.order_margin", f"no article long enough to compare lag 1 with lag {self.order_lag}"
            ),
            m(f"{s}.bank_mismatch", ex(self.bank_mismatch, 1), "bank rows and dimension vs the meta"),
            m(f"{s}.train_windows", ex(self.n_windows.get("train", 0), n), windows),
        ]
        if self.dropped is None or not self.n_windows_built:
            out.append(
                Criterion.not_measured(
                    f"{s}.dropped_windows_pct",
                    "the set's meta records no drop counts (prepared by an older lvmgate)",
                )
            )
        else:
            total = sum(self.dropped.values())
            out.append(
                m(
                    f"{s}.dropped_windows_pct",
                    ex(100.0 * total / self.n_windows_built, self.n_windows_built),
                    f"{total:,} of {self.n_windows_built:,} candidate windows dropped: "
                    + ", ".join(f"{k} {v:,}" for k, v in self.dropped.items()),
                )
            )
        return out


def _integrity(
    ctx: np.ndarray, tgt: np.ndarray, art: np.ndarray, index: ArticleIndex, n_valid: int
) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    """Fault counts over a block, the (b,) bad mask and the rows' article numbers (b, w+1)."""
    rows = np.concatenate([ctx, tgt[:, None]], axis=1)  # (b, w+1)
    w = ctx.shape[1]
    oor = ((rows < 0) | (rows >= n_valid)).any(axis=1)
    safe = np.clip(rows, 0, max(n_valid - 1, 0))
    a = np.searchsorted(index.offsets, safe, side="right") - 1  # (b, w+1) article of each row
    ci = np.asarray(index.chunk_index)[safe]  # (b, w+1)
    ok = ~oor
    nonconsec = ok & (np.diff(ctx, axis=1) != 1).any(axis=1)
    cross = ok & (a != art[:, None]).any(axis=1)
    order = ok & (np.diff(ci[:, :w], axis=1) != 1).any(axis=1)
    not_next = ok & ((tgt != ctx[:, -1] + 1) | (a[:, w] != a[:, w - 1]) | (ci[:, w] != ci[:, w - 1] + 1))
    bad = oor | nonconsec | cross | order | not_next
    counts = {
        "out_of_range": int(oor.sum()),
        "non_consecutive": int(nonconsec.sum()),
        "cross_article": int(cross.sum()),
        "chunk_order_breaks": int(order.sum()),
        "target_not_next": int(not_next.sum()),
        "bad_windows": int(bad.sum()),
    }
    return counts, bad, np.where(oor[:, None], -1, a)


def _cos(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    num = np.einsum("ij,ij->i", x, y, dtype=np.float64)
    den = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def _order_margin(
    bank: np.ndarray,
    index: ArticleIndex,
    targets: np.ndarray,
    lag: int,
    *,
    sample: int,
    resamples: int,
    seed: int,
) -> Estimate:
    """cos(t, t-1) - cos(t, t-lag) over good windows' targets, clustered by article."""
    tgt_art = np.searchsorted(index.offsets, targets, side="right") - 1
    ok = targets - lag >= index.offsets[tgt_art]  # the lag-`lag` chunk is in the same article
    targets, tgt_art = targets[ok], tgt_art[ok]
    if targets.size == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 0)
    rng = np.random.default_rng(seed)
    if targets.size > sample:
        pick = np.sort(rng.choice(targets.size, size=sample, replace=False))
        targets, tgt_art = targets[pick], tgt_art[pick]
    t = np.asarray(bank[targets], dtype=np.float32)
    near = np.asarray(bank[targets - 1], dtype=np.float32)
    far = np.asarray(bank[targets - lag], dtype=np.float32)
    diff = _cos(t, near) - _cos(t, far)
    good = np.isfinite(diff)
    uniq, inv = np.unique(tgt_art[good], return_inverse=True)
    sums = np.bincount(inv, weights=diff[good], minlength=len(uniq))
    counts = np.bincount(inv, minlength=len(uniq)).astype(np.float64)
    return cluster_bootstrap_ratio(sums, counts, resamples=resamples, seed=seed)


def check_sequences(
    prepared: PreparedSet,
    index: ArticleIndex | None = None,
    *,
    store: str | None = None,
    sample: int = 20000,
    resamples: int = 1000,
    seed: int = 0,
) -> SequenceChecks:
    """Run every 2.1 check on a prepared set; `index` defaults to the meta's store dataset's."""
    if index is None:
        index = prepared.article_index(store)
    bank = prepared.bank
    if bank is None:
        raise ValueError("the prepared set has no vector bank")
    meta = prepared.meta
    src = meta.get("bank", {})
    n_bank, dim = int(bank.shape[0]), int(bank.shape[1])
    n_valid = min(n_bank, index.n_rows)
    bank_mismatch = int(
        n_bank != index.n_rows or src.get("n_rows", n_bank) != n_bank or src.get("dim", dim) != dim
    )

    totals = dict.fromkeys(
        (
            "out_of_range",
            "non_consecutive",
            "cross_article",
            "chunk_order_breaks",
            "target_not_next",
            "bad_windows",
        ),
        0,
    )
    split_articles: dict[str, np.ndarray] = {}
    good_targets: list[np.ndarray] = []
    all_rows: list[np.ndarray] = []
    for name, part in prepared.splits.items():
        arts = []
        for lo in range(0, len(part), _BLOCK):
            hi = lo + _BLOCK
            ctx, tgt = part.context[lo:hi], part.target[lo:hi]
            counts, bad, a = _integrity(ctx, tgt, part.article[lo:hi], index, n_valid)
            for k, v in counts.items():
                totals[k] += v
            arts.append(np.unique(a[a >= 0]))
            good_targets.append(tgt[~bad])
            all_rows.append(np.concatenate([ctx, tgt[:, None]], axis=1)[~((a < 0).any(axis=1))])
        split_articles[name] = np.unique(np.concatenate(arts)) if arts else np.zeros(0, np.int64)

    # content: duplicates across all splits, repeated and invalid vectors inside windows
    rows = np.concatenate(all_rows) if all_rows else np.zeros((0, 1), np.int64)  # (N', w+1)
    dup = rep = inval = 0
    if rows.size:
        scan = scan_rows(bank, np.unique(rows))
        content = content_ids(bank, scan)
        slots = np.searchsorted(scan.rows, rows)
        keys = content[slots]
        invalid = np.isin(scan.rows, scan.invalid)
        inval = int(invalid[slots].any(axis=1).sum())
        dup = int(duplicate_keys(keys).sum())
        rep = int(repeated_within(keys).sum())

    touched = np.concatenate(list(split_articles.values())) if split_articles else np.zeros(0)
    _, times = np.unique(touched, return_counts=True)
    shared = int(np.count_nonzero(times > 1))

    n_total = sum(len(p) for p in prepared.splits.values())
    fractions = {k: (len(p) / n_total if n_total else 0.0) for k, p in prepared.splits.items()}
    params = meta.get("params", {})
    requested = {  # held-out shares asked for (a split asked for but missing counts as share 0)
        k: float(params[f"{k}_split"]) for k in ("val", "test") if params.get(f"{k}_split")
    }
    errors = [abs(fractions.get(k, 0.0) - v) for k, v in requested.items()]
    frac_error = max(errors) if errors else 0.0

    train = prepared.splits.get("train") or next(iter(prepared.splits.values()))
    w = train.context_window
    shape = (len(train), w, dim)
    m_splits = meta.get("splits", {}).get(train.split, {})
    expected = (
        int(m_splits.get("n_windows", len(train))),
        int(meta.get("params", {}).get("context_window", w)),
        int(src.get("dim", dim)),
    )
    shape_mismatch = int(shape != expected)
    if len(train) and not totals["out_of_range"]:
        got, _ = train.gather(np.arange(min(4, len(train))))
        shape_mismatch |= int(got.shape[1:] != (expected[1], expected[2]))

    lag = max(w, 2)
    targets = np.concatenate(good_targets) if good_targets else np.zeros(0, np.int64)
    margin = _order_margin(bank, index, targets, lag, sample=sample, resamples=resamples, seed=seed)
    return SequenceChecks(
        shape=shape,
        expected_shape=expected,
        shape_mismatch=shape_mismatch,
        n_windows={k: len(p) for k, p in prepared.splits.items()},
        n_articles={k: len(v) for k, v in split_articles.items()},
        **totals,
        duplicate_sequences=dup,
        repeated_vector_windows=rep,
        invalid_vector_windows=inval,
        shared_articles=shared,
        split_fractions=fractions,
        requested_fractions=requested,
        split_fraction_error=float(frac_error),
        order_lag=lag,
        order_margin=margin,
        bank_mismatch=bank_mismatch,
        dropped=_dropped(meta.get("counts")),
        n_windows_built=(meta.get("counts") or {}).get("n_windows_built"),
    )


def _dropped(counts: dict | None) -> dict[str, int] | None:
    """Windows prepare dropped, by reason, from the meta's counts."""
    if not counts or "n_windows_built" not in counts:
        return None
    return {
        "invalid vectors": int(counts.get("n_dropped_invalid", 0)),
        "repeated vector (duplicated chunk)": int(counts.get("n_dropped_repeated", 0)),
        "duplicate sequence": int(counts.get("n_dropped_duplicate", 0)),
    }
