"""3.3 from files: failure items from a test set and a model (predict, rank over the whole bank,
decode), `run_failure_analysis`, the artifact, its plots and findings.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.analysis.analyze import analyze_failures
from lvmgate.analysis.features import entity_density
from lvmgate.analysis.groups import _fmt
from lvmgate.analysis.result import (
    COSINE_BAR,
    DECODER_BLEU,
    FAILURE_K,
    FORMAT,
    MIN_GROUP_ITEMS,
    QUESTIONS,
    FailureAnalysis,
    FailureItems,
)
from lvmgate.errors import InputError
from lvmgate.results import Estimate


# -- items from a test set ----------------------------------------------------------------------------
def _sample(n: int, size: int | None, seed: int) -> np.ndarray:
    if size is None or n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 43]).choice(n, size=size, replace=False))


def items_from_windows(
    bank: np.ndarray,
    index: Any,
    ctx_rows: np.ndarray,
    tgt_rows: np.ndarray,
    predictor: Any,
    *,
    texts: Callable[[np.ndarray], list[str]],
    domains: Callable[[np.ndarray], np.ndarray] | None = None,
    decoder: Any = None,
    batch_size: int = 256,
    source: str = "",
) -> FailureItems:
    """Score the predictor on (n, w) context rows -> target rows of `bank` and collect the features.

    `index` is the bank's ArticleIndex; `texts(rows)` gives texts of bank rows and `domains(rows)`
    their domain codes (-1 missing; None: no codes); `decoder` decodes the true next vectors.
    """
    from lvmgate.lvm.evaluate import TIE_TOLERANCE, full_bank_ranks, window_scores
    from lvmgate.lvm.predictor import as_predictor, check_prediction
    from lvmgate.metrics.reconstruction import bleu_statistics

    ctx_rows = np.asarray(ctx_rows, dtype=np.int64)
    tgt_rows = np.asarray(tgt_rows, dtype=np.int64)
    pred_fn = as_predictor(predictor)
    n, dim = len(tgt_rows), int(bank.shape[1])
    preds = np.empty((n, dim), dtype=np.float32)
    cosine = np.empty(n)
    ctx_above = np.zeros(n, dtype=np.int64)
    for lo in range(0, n, batch_size):
        sl = slice(lo, min(n, lo + batch_size))
        rows = np.concatenate([ctx_rows[sl].ravel(), tgt_rows[sl]])
        uniq, inv = np.unique(rows, return_inverse=True)
        vecs = np.asarray(bank[uniq], dtype=np.float32)
        b = sl.stop - sl.start
        ctx = vecs[inv[: b * ctx_rows.shape[1]]].reshape(b, ctx_rows.shape[1], dim)
        tgt = vecs[inv[b * ctx_rows.shape[1] :]]
        p = check_prediction(pred_fn.predict(ctx), b, dim, getattr(pred_fn, "name", "predictor"))
        preds[sl] = p
        cos, _ = window_scores(p, ctx, tgt)
        cosine[sl] = cos
        # context rows are excluded from the ranking (as in the 3.2 benchmark): count those above the target
        pu = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-30)
        cu = ctx / np.maximum(np.linalg.norm(ctx, axis=2, keepdims=True), 1e-30)
        tu = tgt / np.maximum(np.linalg.norm(tgt, axis=1, keepdims=True), 1e-30)
        s_ctx = np.einsum("bd,bwd->bw", pu, cu)
        s_tgt = np.einsum("bd,bd->b", pu, tu)
        ctx_above[sl] = (s_ctx > s_tgt[:, None] + TIE_TOLERANCE).sum(axis=1)
    ranks = full_bank_ranks(preds, tgt_rows, bank) - ctx_above
    art_of_row = index.article_of_row()
    article = art_of_row[tgt_rows]
    offsets = np.asarray(index.offsets)
    lengths = np.diff(offsets)[article]
    position = (tgt_rows - offsets[article]) / np.maximum(lengths - 1, 1)
    target_texts = list(texts(tgt_rows))
    decoded, bleu, dec_name = None, None, None
    if decoder is not None:
        uniq, inv = np.unique(tgt_rows, return_inverse=True)  # one sorted read of the bank
        out = decoder.decode(np.asarray(bank[uniq], dtype=np.float32)[inv])
        decoded = [d.text for d in out]
        bleu = np.full(n, np.nan)
        good = [i for i, d in enumerate(out) if d.ok]
        if good:
            scores, _ = bleu_statistics([decoded[i] for i in good], [target_texts[i] for i in good], 4)
            bleu[good] = scores
        dec_name = decoder.name
    return FailureItems(
        article=article,
        rank=ranks,
        cosine=cosine,
        text=target_texts,
        domain=np.full(n, -1) if domains is None else np.asarray(domains(tgt_rows), dtype=np.int64),
        position=position,
        row=tgt_rows,
        article_id=[str(x) for x in np.asarray(index.ids)[article]],
        chunk_index=np.asarray(index.chunk_index)[tgt_rows],
        decoder=dec_name,
        decoder_bleu4=bleu,
        decoded=decoded,
        bank_rows=int(bank.shape[0]),
        source=source,
    )


def store_domains(store: Any, dataset: str, rows: np.ndarray) -> np.ndarray:
    """Domain code of each of `rows` (-1 when missing), read without texts or vectors."""
    rows = np.asarray(rows, dtype=np.int64)
    uniq, inv = np.unique(rows, return_inverse=True)
    found = np.full(len(uniq), -1, dtype=np.int64)
    for batch in store.iter_batches(dataset, rows=uniq, text=False, vectors=False, tmd=True):
        if batch.domain_code is not None:
            found[np.searchsorted(uniq, batch.pos)] = batch.domain_code
    found[found < 0] = -1
    return found[inv]


def windows_from_records(
    path: str | os.PathLike, index: Any, context_window: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """(context rows (n, w), target rows (n,), skipped) for a JSONL test set whose lines name target
    chunks by `article_id` and `chunk_index`: the context is the w chunks before each in the bank."""
    from lvmgate.io import iter_jsonl

    ids = {str(a): i for i, a in enumerate(np.asarray(index.ids))}
    offsets = np.asarray(index.offsets)
    ci = np.asarray(index.chunk_index)
    ctx, tgt, skipped = [], [], 0
    for lineno, obj in iter_jsonl(path):
        if "article_id" not in obj or "chunk_index" not in obj:
            raise InputError(f"{path}:{lineno}: a test item needs article_id and chunk_index")
        a = ids.get(str(obj["article_id"]))
        if a is None:
            skipped += 1
            continue
        lo, hi = offsets[a], offsets[a + 1]
        pos = lo + int(np.searchsorted(ci[lo:hi], int(obj["chunk_index"])))
        if pos >= hi or ci[pos] != int(obj["chunk_index"]) or pos - context_window < lo:
            skipped += 1
            continue
        rows = np.arange(pos - context_window, pos + 1)
        if np.any(np.diff(ci[rows]) != 1):  # a hole in chunk_index: not consecutive chunks
            skipped += 1
            continue
        ctx.append(rows[:-1])
        tgt.append(pos)
    if not tgt:
        raise InputError(
            f"{path}: no test item has {context_window} consecutive chunks before it in the bank"
        )
    return np.asarray(ctx, dtype=np.int64), np.asarray(tgt, dtype=np.int64), skipped


def make_decoder(
    name: str, store: Any, dataset: str, *, model_path: str | None = None, device: str | None = None
):
    """`auto`: vec2text jxe when its weights are found, else nearest over the whole bank."""
    from lvmgate.decoders import DECODER_NAMES, get_decoder

    if name == "none":
        return None
    if name == "auto":
        from lvmgate.decoders.vec2text import weights_available

        name = "jxe" if weights_available(model_path) else "nearest"
    if name not in DECODER_NAMES:
        raise InputError(f"unknown decoder {name!r} (auto, none, {', '.join(DECODER_NAMES)})")
    if name == "nearest":
        return get_decoder("nearest", store=store, dataset=dataset)
    return get_decoder(name, model_path=model_path, device=device)


def model_context_window(lvm_model: str) -> int | None:
    """The context window an lvmgate checkpoint was trained on (from the data it records), if known."""
    if not os.path.isfile(lvm_model):
        return None
    from lvmgate.lvm.checkpoint import read_checkpoint

    body = read_checkpoint(lvm_model)
    w = ((body.get("data") or {}).get("train") or {}).get("context_window")
    return int(w) if w else None


def run_failure_analysis(
    *,
    lvm_model: str,
    test_set: str | os.PathLike,
    output: str | os.PathLike | None = None,
    store: str | None = None,
    dataset: str | None = None,
    decoder: str | Any = "auto",
    model_path: str | None = None,
    device: str | None = None,
    sample_size: int | None = 1000,
    context_window: int | None = None,
    k: int = FAILURE_K,
    min_group_items: int = MIN_GROUP_ITEMS,
    bleu_bar: float = DECODER_BLEU,
    cosine_bar: float = COSINE_BAR,
    resamples: int = 1000,
    seed: int = 0,
    plots: bool = True,
) -> dict[str, Any]:
    """The whole 3.3 step: load, score, decode, analyse; returns the artifact and writes it (JSON,
    per-item JSONL and PNG plots beside it) when `output` is given.

    `test_set`: a prepared split (NAME_test.npz / NAME_val.npz; its meta names the store and
    dataset) or a JSONL file naming target chunks by article_id and chunk_index (needs `dataset`).
    """
    from lvmgate import __version__
    from lvmgate.io import file_sha256, portable_url
    from lvmgate.lvm.load import load_predictor
    from lvmgate.stores import open_store

    test_set = Path(test_set)
    if not test_set.is_file():
        raise InputError(f"{test_set}: no such test set")
    predictor = load_predictor(lvm_model)
    is_npz = test_set.suffix == ".npz"
    if is_npz:
        from lvmgate.sequences import SequenceSet

        split = SequenceSet.load(test_set, store=store)
        if split.split == "train":
            raise InputError(f"{test_set} is the training split: analyse held-out windows (NAME_test.npz)")
        dataset = dataset or split.meta["bank"]["dataset"]
        if dataset != split.meta["bank"]["dataset"]:
            raise InputError(f"{test_set} was prepared on {split.meta['bank']['dataset']!r}, not {dataset!r}")
        store = store or split.meta["bank"].get("store")
        want = context_window or model_context_window(lvm_model)
        if want and want != split.context_window:
            raise InputError(
                f"{lvm_model} was trained on windows of {want} chunks; {test_set} holds windows of {split.context_window}"
            )
    elif not dataset:
        raise InputError("a JSONL test set names chunks of a store dataset: give --dataset (and --store)")
    st = open_store(store)
    try:
        info = st.require(dataset)
        index = st.articles(dataset)
        bank = st.vectors(dataset)
        if is_npz:
            pick = _sample(len(split), sample_size, seed)
            ctx_rows, tgt_rows, skipped = split.context[pick], split.target[pick], 0
            where = f"{len(pick)} of {len(split)} windows of {test_set.name} ({split.split})"
        else:
            w = context_window or model_context_window(lvm_model) or 5
            ctx_rows, tgt_rows, skipped = windows_from_records(test_set, index, w)
            pick = _sample(len(tgt_rows), sample_size, seed)
            ctx_rows, tgt_rows = ctx_rows[pick], tgt_rows[pick]
            where = f"{len(pick)} items of {test_set.name} (context {w}; {skipped} skipped: no full context in {dataset})"
        dec = (
            make_decoder(decoder, st, dataset, model_path=model_path, device=device)
            if isinstance(decoder, str)
            else decoder
        )
        items = items_from_windows(
            bank,
            index,
            ctx_rows,
            tgt_rows,
            predictor,
            texts=lambda rows: st.texts(dataset, rows),
            domains=(lambda rows: store_domains(st, dataset, rows)) if info.has_tmd else None,
            decoder=dec,
            source=where,
        )
        url = st.url
    finally:
        st.close()
    analysis = analyze_failures(
        items,
        k=k,
        min_group_items=min_group_items,
        bleu_bar=bleu_bar,
        cosine_bar=cosine_bar,
        resamples=resamples,
        seed=seed,
    )
    art = {
        "format": FORMAT,
        "tool": "failure_analysis",
        "provenance": {
            "lvm_model": str(Path(lvm_model).resolve()) if os.path.exists(lvm_model) else lvm_model,
            "lvm_model_sha256": file_sha256(lvm_model) if os.path.isfile(lvm_model) else None,
            "test_set": str(test_set.resolve()),
            "test_set_sha256": file_sha256(test_set),
            "store": portable_url(url),
            "dataset": dataset,
            "fingerprint": info.fingerprint,
            "decoder": items.decoder,
            "sample_size": sample_size,
            "seed": seed,
            "lvmgate_version": __version__,
        },
        "result": analysis.to_dict(),
    }
    if output is not None:
        write_analysis(art, items, analysis, output, plots=plots)
    return art


def write_analysis(
    art: dict[str, Any], items: FailureItems, analysis: FailureAnalysis, output, *, plots: bool
) -> list[Path]:
    """OUTPUT (JSON), OUTPUT_items.jsonl (one line per item) and, with `plots`, OUTPUT_*.png."""
    import json

    from lvmgate.io import atomic_open, write_json

    out = Path(output)
    written = [write_json(out, art)]
    fail = np.asarray(items.rank) >= analysis.k
    items_path = out.with_name(out.stem + "_items.jsonl")
    with atomic_open(items_path, "w", encoding="utf-8") as fh:
        for i in range(len(items)):
            rec = {
                "article_id": items.article_id[i] if items.article_id else int(items.article[i]),
                "chunk_index": None if items.chunk_index is None else int(items.chunk_index[i]),
                "row": None if items.row is None else int(items.row[i]),
                "rank": int(items.rank[i]),
                "failed": bool(fail[i]),
                "cosine": round(float(items.cosine[i]), 6),
                "domain_code": int(items.domain[i]),
                "position": round(float(items.position[i]), 4),
                "length_chars": len(items.text[i]),
                "entity_density": round(entity_density(items.text[i]), 4),
                "decoder_bleu4": None
                if items.decoder_bleu4 is None or items.decoder_bleu4[i] != items.decoder_bleu4[i]
                else round(float(items.decoder_bleu4[i]), 4),
            }
            fh.write(json.dumps(rec) + "\n")
    written.append(items_path)
    if plots:
        from lvmgate.report.plots import PLOTS

        result = art["result"]
        for j, (_title, fn) in enumerate(PLOTS.get("failure_analysis", [])):
            png = out.with_name(f"{out.stem}_{j + 1}.png")
            with atomic_open(png, "wb") as fh:
                fh.write(fn(result))
            written.append(png)
    return written


def findings(r: dict[str, Any]) -> list[str]:
    """Key findings for the phase report from a FailureAnalysis dict: the plan's four questions."""
    fr = Estimate.from_dict(r["failure_rate"])
    out = [
        f"3.3 failures: {r['failures']:,} of {r['n_items']:,} test items ({_fmt(fr)}, {r['n_articles']:,} articles): "
        f"{r['failure_definition']}. Mean predicted cosine {Estimate.from_dict(r['mean_cosine']).value:.3f}; "
        f"{100 * Estimate.from_dict(r['below_cosine_bar']).value:.1f}% below {r['cosine_bar']:g}.",
    ]
    for key, q in QUESTIONS.items():
        out.append(f"Q: {q} A: {r['answers'].get(key, 'not answered')}")
    return out
