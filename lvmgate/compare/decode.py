"""Decoding for 2.3: the nearest-neighbour decoder over the whole bank (a context row never counts as
the answer) and a model decoder (vec2text) in batches, with timings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np


# --------------------------------------------------------------------------------------------------
# decoding
@dataclass
class _Decoded:
    texts: list[str]
    rows: np.ndarray  # (n,) matched bank row (nearest) or -1
    errors: list[str | None]
    batch_seconds: list[float]
    batch_sizes: list[int]


def _decode_nearest(dec: Any, queries: np.ndarray, context_rows: np.ndarray, texts_of) -> _Decoded:
    """Top-1 bank row per query over the whole bank, never one of the window's own context rows."""
    from lvmgate.decoders.base import check_queries, invalid_reasons

    q = check_queries(queries, dec.dim, "nearest")
    n, w = context_rows.shape
    reasons = invalid_reasons(q)
    rows = np.full(n, -1, dtype=np.int64)
    texts = [""] * n
    errors: list[str | None] = list(reasons)
    good = np.flatnonzero([r is None for r in reasons])
    seconds: list[float] = []
    sizes: list[int] = []
    step = dec.default_batch_size
    for lo in range(0, len(good), step):
        idx = good[lo : lo + step]
        t0 = time.perf_counter()
        _, cand = dec.search(q[idx], k=w + 1)  # (b, w + 1): w context rows cannot all be above
        shown = (cand[:, :, None] == context_rows[idx][:, None, :]).any(axis=2) | (cand < 0)
        found = ~shown.all(axis=1)
        pick = cand[np.arange(len(idx)), np.argmax(~shown, axis=1)]
        got = idx[found]
        rows[got] = pick[found]
        for i, t in zip(got.tolist(), texts_of(pick[found]) if found.any() else []):
            texts[i] = t
        seconds.append(time.perf_counter() - t0)
        sizes.append(len(idx))
        for i in idx[~found].tolist():
            errors[i] = "no usable bank row"
    return _Decoded(texts, rows, errors, seconds, sizes)


def _decode_model(dec: Any, queries: np.ndarray, progress: bool) -> _Decoded:
    seconds: list[float] = []
    sizes: list[int] = []
    out = dec.decode(queries, progress=progress, on_batch=lambda k, s: (sizes.append(k), seconds.append(s)))
    return _Decoded(
        [d.text if d.ok else "" for d in out],
        np.full(len(out), -1, dtype=np.int64),
        [d.error for d in out],
        seconds,
        sizes,
    )


def _items(
    pick: np.ndarray,
    arts: np.ndarray,
    tgt_rows: np.ndarray,
    references: list[str],
    cos_items: dict[str, np.ndarray],
    per_item: dict[str, dict[str, dict[str, Any]]],
    n: int,
) -> list[dict[str, Any]]:
    """Per window: the reference and, per decoder and predictor, the decoded text and its scores
    (for error analysis: which items fail for the LVM, for vec2text, for both)."""
    out = []
    for i in range(n):
        dec: dict[str, dict[str, Any]] = {}
        for b, by_p in per_item.items():
            dec[b] = {}
            for p, it in by_p.items():
                row = int(it["rows"][i])
                dec[b][p] = {
                    "text": it["texts"][i],
                    "row": row if row >= 0 else None,
                    "bleu4": float(it["bleu4"][i]),
                    "text_cosine": None if it["text_cosine"] is None else float(it["text_cosine"][i]),
                    "error": it["errors"][i],
                }
        out.append(
            {
                "window": int(pick[i]),
                "article_id": str(arts[i]),
                "target_row": int(tgt_rows[i]),
                "reference": references[i],
                "cosine": {p: float(c[i]) for p, c in cos_items.items()},
                "decoded": dec,
            }
        )
    return out
