"""Plan 2.3: the LVM's predicted next vectors decoded to text and compared with the baselines.

    comp = compare_reconstruction("models/lvm.pt", "artifacts/lvm/x_test.npz", backends="jxe,ielab")
    comp.criteria["2.3.bleu4_margin_copy_last[nearest]"]          # paired, article bootstrap
    comp.write("artifacts/validation/reconstruction_lvm_vs_vec2text.json")

For every sampled held-out window, four vectors are decoded by every decoder:
- `lvm`: the model's prediction for the next chunk;
- `copy_last` / `context_mean`: the last context vector and the context average, the honest
  baselines (the real project's LVMs converged to copy-last, and on held-out articles the context
  mean beat them);
- `truth`: the true next vector (vec2text decoders only). This is the plan's "vec2text baseline":
  what 1.4 measured, on the same items here, so that the comparison is paired. It is a ceiling,
  not a competitor: a perfect prediction decodes exactly like it.
Decoders: `nearest` always (the whole bank; the window's own context rows are never an answer, so
a predictor cannot score by naming a chunk it was shown), `jxe` and `ielab` when their weights
exist (else recorded as unavailable, with the reason). Each decoded text is scored against the
true next chunk's text (BLEU-4, sacrebleu; token F1) and, with the dataset's encoder, re-encoded
and compared with the true next vector (text cosine, the 1.4 round-trip cosine's analogue). The
vector cosine cos(prediction, true next vector) needs no decoder.

Every comparison is paired: the same windows, resampled together by article (windows of one
article are correlated), so a margin's interval is the interval of the difference, not of two
separate numbers. Criteria (thresholds in lvmgate.policy, reasoning in docs/reconstruction.md):
2.3.shared_articles, 2.3.lvm_cosine, 2.3.cosine_margin_copy_last, 2.3.cosine_margin_context_mean,
2.3.bleu4_vs_vec2text[b], 2.3.cosine_vs_vec2text[b] (b in jxe, ielab; ratio LVM / truth),
2.3.bleu4_margin_copy_last[d], 2.3.bleu4_margin_context_mean[d] (d in nearest, jxe, ielab) and
2.3.latency_s (LVM forward time per single query). A failing criterion's message carries the
plan's diagnostics, measured: is the data sequential, is the model copying or collapsed, are the
vectors normalised and from the space the model was trained on.

The test set (`--test-set`) is a held-out split from `lvmgate prepare` (NAME_test.npz, or
NAME_val.npz) or a JSONL of chunk records (the corpus contract) naming held-out articles of the
bank's dataset; see `load_test_set`. Its articles are checked against the articles the model was
trained on (from the model's training log); any overlap is an InputError.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.criteria import Criterion
from lvmgate.errors import InputError
from lvmgate.io import file_sha256, read_json, redact_url, write_json
from lvmgate.lvm.heldout import held_out_split, shared_articles, training_articles
from lvmgate.lvm.load import LoadedModel
from lvmgate.policy import FAIL, Policy, criterion_ids, load_policy
from lvmgate.results import Estimate, Provenance, Result
from lvmgate.stats import PairedBootstrap, bootstrap_mean

KIND = "reconstruction_comparison"
FORMAT = "lvmgate.reconstruction/1"
PLAN_SECTION = "2.3"
DEFAULT_OUTPUT = "artifacts/validation/reconstruction_lvm_vs_vec2text.json"
VEC2TEXT_BACKENDS = ("jxe", "ielab")
BACKENDS = ("nearest", *VEC2TEXT_BACKENDS)
PREDICTORS = ("lvm", "copy_last", "context_mean")
TRUTH = "truth"  # the true next vector, decoded (vec2text decoders only): the plan's baseline
BASELINE_LABEL = {"copy_last": "copy-last", "context_mean": "context-mean"}
LATENCY_QUERIES = 100  # single-query LVM timings for 2.3.latency_s
DIAGNOSTICS_HEAD = (
    "Diagnostics (plan 2.3: LVM significantly below a baseline is a CRITICAL ISSUE, do not proceed)"
)


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


# --------------------------------------------------------------------------------------------------
# BLEU over article resamples
def _bleu_samples(boot: PairedBootstrap, stats: np.ndarray) -> np.ndarray:
    """Corpus BLEU-4 of every replicate, from per-item sacrebleu statistics (n, 10)."""
    from lvmgate.metrics.reconstruction import corpus_bleu_from_stats

    return np.array([corpus_bleu_from_stats(t[None, :]) for t in boot.totals(stats)])


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


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


# --------------------------------------------------------------------------------------------------
# the result
@dataclass(frozen=True)
class DecoderComparison(Result):
    """One decoder: per-predictor metrics over the same windows and the paired comparisons."""

    name: str
    status: str  # ok | unavailable | not_requested | failed
    reason: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # predictor -> metric -> value
    comparisons: dict[str, Estimate] = field(default_factory=dict)

    _hidden_fields = ("params",)


@dataclass(frozen=True)
class ReconstructionComparison(Result):
    """The 2.3 artifact (see docs/reconstruction.md for the JSON layout)."""

    kind: str
    format: str
    plan_section: str
    provenance: dict[str, Any]
    test_set: dict[str, Any]
    model: dict[str, Any]
    sample: dict[str, Any]
    vector: dict[str, dict[str, Estimate]]  # predictor -> cosine, next_vs_context
    decoders: dict[str, DecoderComparison]
    latency: dict[str, Any]
    baseline_1_4: dict[str, Any] | None
    diagnostics: dict[str, Any]
    criteria: dict[str, Criterion]  # every 2.3 id (lvmgate.criteria): measured or not, with the reason
    notes: tuple[str, ...] = ()
    items: tuple[dict[str, Any], ...] = ()

    _hidden_fields = ("items", "provenance")

    def write(self, path: str | os.PathLike) -> Path:
        """Write as indented JSON, atomically."""
        return write_json(path, self.to_dict())

    def judged(self, policy: Policy | None = None) -> dict[str, Criterion]:
        """The criteria judged under `policy` (for printing; gates judge themselves)."""
        policy = policy or load_policy()
        return {cid: c.judged(policy) for cid, c in self.criteria.items()}


CRITERIA = criterion_ids("2.3")


def parse_backends(backends: str | Sequence[str] | None) -> list[str]:
    """Requested decoders, nearest always included (it needs no weights); unknown names are an error."""
    items = backends.split(",") if isinstance(backends, str) else list(backends or VEC2TEXT_BACKENDS)
    names = list(dict.fromkeys(b.strip() for b in items if b and b.strip()))
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise InputError(f"unknown backend {unknown[0]!r} (known: {', '.join(BACKENDS)})")
    return ["nearest", *[n for n in names if n != "nearest"]]


# --------------------------------------------------------------------------------------------------
def compare_reconstruction(
    lvm_model: str | os.PathLike,
    test_set: str | os.PathLike | None = None,
    *,
    backends: str | Sequence[str] | None = None,
    store: str | None = None,
    dataset: str | None = None,
    baseline: str | os.PathLike | None = None,
    sample_size: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    model_path: str | os.PathLike | None = None,
    encoder: str | None = None,
    context_window: int | None = None,
    batch_size: int | None = None,
    policy: Policy | None = None,
    decoders: dict[str, Any] | None = None,
    progress: bool = False,
    output: str | os.PathLike | None = None,
    latency_queries: int = LATENCY_QUERIES,
) -> ReconstructionComparison:
    """Run the 2.3 comparison (see module docstring) and return (and, given `output`, write) it.

    `backends`: vec2text presets to try besides nearest (default jxe, ielab); those whose weights
    are missing are recorded as unavailable. `decoders` supplies ready decoders by name (tests).
    `baseline`: the 1.4 artifact, reported beside the paired numbers. `latency_queries` single
    queries are timed for 2.3.latency_s. Bad input (unknown backend,
    unreadable model or test set, a test set sharing articles with the model's training data,
    mismatched dimensions or context windows) raises InputError before anything is decoded.
    """
    from lvmgate import __version__

    policy = policy or load_policy()
    seed = int(policy.param("seed") if seed is None else seed)
    resamples = int(policy.param("bootstrap_resamples"))
    confidence = float(policy.param("confidence"))
    sample_size = int(sample_size or policy.param("reconstruction_sample_size"))
    if sample_size < 1:
        raise InputError(f"--sample-size must be at least 1, got {sample_size}")
    requested = parse_backends(backends)
    model = load_model(str(lvm_model), device=device)
    notes: list[str] = []
    test_note = "given (--test-set)"
    if test_set is None:
        test_set, test_note = held_out_split(trained_on=model.train_data.get("path"))
    ts = load_test_set(
        test_set, store=store, dataset=dataset, context_window=context_window or model.context_window
    )
    try:
        return _compare(
            model, ts, test_note, requested, policy=policy, seed=seed, resamples=resamples,
            confidence=confidence, sample_size=sample_size, device=device, model_path=model_path,
            encoder=encoder, batch_size=batch_size, decoders=decoders, progress=progress,
            baseline=baseline, output=output, notes=notes, version=__version__,
            latency_queries=latency_queries,
        )  # fmt: skip
    finally:
        ts.close()


def _compare(
    model: ModelUnderTest,
    ts: TestSet,
    test_note: str,
    requested: list[str],
    *,
    policy: Policy,
    seed: int,
    resamples: int,
    confidence: float,
    sample_size: int,
    device: str | None,
    model_path: str | os.PathLike | None,
    encoder: str | None,
    batch_size: int | None,
    decoders: dict[str, Any] | None,
    progress: bool,
    baseline: str | os.PathLike | None,
    output: str | os.PathLike | None,
    notes: list[str],
    version: str,
    latency_queries: int = LATENCY_QUERIES,
) -> ReconstructionComparison:
    from lvmgate.decoders import NearestDecoder, get_decoder
    from lvmgate.decoders.vec2text import FETCH_HELP, weights_available
    from lvmgate.encoders import get_encoder
    from lvmgate.lvm.baselines import context_mean, copy_last
    from lvmgate.lvm.evaluate import window_scores
    from lvmgate.lvm.predictor import check_prediction
    from lvmgate.metrics.reconstruction import bleu_statistics, cosine_rows, token_f1

    # -- checks before any decoding ---------------------------------------------------------------
    if model.dim is not None and model.dim != ts.dim:
        raise InputError(
            f"{model.spec} predicts {model.dim}-D vectors; the test set's bank ({ts.dataset}) holds {ts.dim}-D vectors"
        )
    if model.context_window and model.context_window != ts.context_window:
        raise InputError(
            f"{model.spec} was trained on contexts of {model.context_window} chunks; {ts.path} has windows of "
            f"{ts.context_window} (prepare the test set with --context-window {model.context_window})"
        )
    trained, trained_source = training_articles(model.loaded, [ts.prepared_meta or {}])
    test_articles = set(np.unique(ts.article_ids).tolist())
    leaked = shared_articles(test_articles, trained)
    shared = None if leaked is None else len(leaked)
    shared_ids = leaked or []
    if shared:  # a STOP (2.3.shared_articles), not an input error: the report names the articles
        notes.append(
            f"--test-set {ts.path} shares {shared} of its {len(test_articles)} articles with the data "
            f"{model.spec} was trained on ({trained_source}): every number here is on seen articles; "
            "test on held-out articles (lvmgate prepare splits by article: use its _test.npz)"
        )
    enc = None
    enc_spec = encoder or ts.encoder
    if enc_spec:
        try:
            enc = get_encoder(enc_spec)
        except InputError as exc:
            notes.append(f"encoder {enc_spec!r} unavailable ({exc}): text cosine not computed")
        if enc is not None and getattr(enc, "dim", ts.dim) != ts.dim:
            raise InputError(
                f"encoder {enc_spec!r} makes {enc.dim}-D vectors; the bank holds {ts.dim}-D vectors"
            )
    else:
        notes.append(f"dataset {ts.dataset!r} declares no encoder (and none given): text cosine not computed")

    built: dict[str, Any] = {}
    status: dict[str, tuple[str, str]] = {}
    for name in BACKENDS:
        if name not in requested:
            status[name] = ("not_requested", "backend not requested (--vec2text-backends / --backends)")
            continue
        if decoders and name in decoders:
            built[name] = decoders[name]
        elif name == "nearest":
            built[name] = NearestDecoder.from_store(ts.store, ts.dataset, batch_size=batch_size)
        elif not weights_available(model_path):
            status[name] = (
                "unavailable",
                f"vec2text weights not found (jxm/gtr__nq__32 and jxm/gtr__nq__32__correct): {FETCH_HELP}",
            )
            continue
        else:
            built[name] = get_decoder(name, model_path=model_path, device=device, batch_size=batch_size)
        dim = getattr(built[name], "dim", None)
        if dim is not None and dim != ts.dim:
            raise InputError(
                f"decoder {name!r} expects {dim}-D vectors; the test set's bank holds {ts.dim}-D vectors"
            )
        status[name] = ("ok", "")

    # -- sample, predict ----------------------------------------------------------------------------
    n_all = len(ts.target)
    rng = np.random.default_rng([seed, 7])
    n = min(sample_size, n_all)
    pick = np.sort(rng.choice(n_all, size=n, replace=False))
    if n < sample_size:
        notes.append(f"the test set has {n_all} windows: all of them used instead of {sample_size}")
    ctx_rows, tgt_rows, arts = ts.context[pick], ts.target[pick], ts.article_ids[pick]
    rows = np.concatenate([ctx_rows.ravel(), tgt_rows])
    uniq, inv = np.unique(rows, return_inverse=True)
    vecs = np.asarray(ts.bank[uniq], dtype=np.float32)
    w = ts.context_window
    ctx = vecs[inv[: n * w]].reshape(n, w, -1)  # (n, w, D)
    tgt = vecs[inv[n * w :]]  # (n, D)
    t0 = time.perf_counter()
    lvm_pred = check_prediction(model.predict(ctx), n, ts.dim, model.spec)
    batch_s = (time.perf_counter() - t0) / max(n, 1)
    preds = {
        "lvm": lvm_pred,
        "copy_last": copy_last(ctx),
        "context_mean": context_mean(ctx),
        TRUTH: tgt,
    }
    single = _single_query_seconds(model, ctx[: max(1, latency_queries)])
    boot = PairedBootstrap(arts, resamples, seed, confidence)
    references = ts.texts(tgt_rows)

    vector: dict[str, dict[str, Estimate]] = {}
    cos_items: dict[str, np.ndarray] = {}
    for name in PREDICTORS:
        cos, nvc = window_scores(preds[name], ctx, tgt)
        cos = np.nan_to_num(cos, nan=0.0)
        cos_items[name] = cos
        vector[name] = {"cosine": boot.mean(cos), "next_vs_context": boot.mean(np.nan_to_num(nvc, nan=-2.0))}
    margins = {
        base: boot.estimate(
            float(np.mean(cos_items["lvm"] - cos_items[base])),
            boot.mean_samples(cos_items["lvm"] - cos_items[base]),
        )
        for base in ("copy_last", "context_mean")
    }

    # -- decode ---------------------------------------------------------------------------------------
    results: dict[str, DecoderComparison] = {}
    per_item: dict[str, dict[str, dict[str, Any]]] = {}
    for name in BACKENDS:
        st, why = status[name]
        if st != "ok":
            results[name] = DecoderComparison(name, st, why)
            continue
        dec = built[name]
        names = [*PREDICTORS, *([TRUTH] if name in VEC2TEXT_BACKENDS else [])]
        try:
            decoded = {
                p: (
                    _decode_nearest(dec, preds[p], ctx_rows, ts.texts)
                    if name == "nearest"
                    else _decode_model(dec, preds[p], progress)
                )
                for p in names
            }
        except InputError:
            raise
        except Exception as exc:  # a decoder that breaks is recorded, the others still run
            results[name] = DecoderComparison(name, "failed", f"{type(exc).__name__}: {exc}", dec.params())
            continue
        metrics: dict[str, dict[str, Any]] = {}
        stats: dict[str, np.ndarray] = {}
        text_cos: dict[str, np.ndarray] = {}
        items: dict[str, dict[str, Any]] = {}
        for p in names:
            d = decoded[p]
            sent, st4 = bleu_statistics(d.texts, references, 4)
            stats[p] = st4
            f1 = token_f1(d.texts, references)
            tc = None
            if enc is not None:
                tc = cosine_rows(tgt, enc.encode(d.texts, batch_size=64))
                text_cos[p] = tc
            lat = (
                float(np.sum(d.batch_seconds) / max(1, int(np.sum(d.batch_sizes))))
                if d.batch_sizes
                else float("nan")
            )
            metrics[p] = {
                "n": n,
                "n_failed": sum(e is not None for e in d.errors),
                "bleu4": None,  # filled below from the shared replicates
                "sentence_bleu4": boot.mean(sent),
                "token_f1": boot.mean(f1),
                "text_cosine": None if tc is None else boot.mean(tc),
                "latency_per_item_s": lat,
            }
            items[p] = {
                "texts": d.texts,
                "rows": d.rows,
                "bleu4": sent,
                "text_cosine": tc,
                "errors": d.errors,
            }
        bleu_rep = {p: _bleu_samples(boot, stats[p]) for p in names}
        bleu_point = {p: _corpus_bleu(stats[p]) for p in names}
        for p in names:
            metrics[p]["bleu4"] = boot.estimate(bleu_point[p], bleu_rep[p])
        comps: dict[str, Estimate] = {}
        for base in ("copy_last", "context_mean"):
            comps[f"bleu4_margin_{base}"] = boot.estimate(
                bleu_point["lvm"] - bleu_point[base], bleu_rep["lvm"] - bleu_rep[base]
            )
        if TRUTH in names:
            with np.errstate(invalid="ignore", divide="ignore"):
                comps["bleu4_vs_vec2text"] = boot.estimate(
                    _ratio(bleu_point["lvm"], bleu_point[TRUTH]),
                    np.where(bleu_rep[TRUTH] > 0, bleu_rep["lvm"] / bleu_rep[TRUTH], np.nan),
                )
                if text_cos:
                    a, b = text_cos["lvm"], text_cos[TRUTH]
                    sa, sb = boot.mean_samples(a), boot.mean_samples(b)
                    comps["cosine_vs_vec2text"] = boot.estimate(
                        _ratio(float(a.mean()), float(b.mean())), np.where(sb > 0, sa / sb, np.nan)
                    )
        results[name] = DecoderComparison(name, "ok", "", dec.params(), metrics, comps)
        per_item[name] = items

    # -- 1.4 artifact, diagnostics, criteria -------------------------------------------------------
    base14 = _baseline_reference(baseline, ts)
    diagnostics = _diagnostics(model, ts, ctx, tgt, lvm_pred, boot)
    criteria = _criteria(
        results,
        vector,
        margins,
        single,
        shared,
        shared_ids,
        trained_source,
        ts,
        base14,
        diagnostics,
        policy,
        n,
    )
    prov = Provenance(
        tool="reconstruction",
        dataset=ts.dataset,
        store=redact_url(str(ts.store.url)),
        fingerprint=ts.fingerprint,
        sample_size=n,
        seed=seed,
        params={
            "lvm_model": model.info.get("path", model.spec),
            "lvm_model_sha256": model.info.get("sha256"),
            "test_set": str(Path(ts.path).resolve()),
            "test_set_sha256": ts.sha256,
            "backends": {k: v[0] for k, v in status.items()},
            "sample_size_requested": sample_size,
            "resamples": resamples,
            "encoder": enc_spec if enc is not None else None,
            "device": device,
            "baseline": None if baseline is None else str(baseline),
            "decoders": {k: getattr(v, "params", dict)() for k, v in built.items()},
        },
        policy_digest=policy.digest,
    ).to_dict()
    sample = {
        "requested": sample_size,
        "n_windows": n,
        "n_articles": boot.k,
        "windows": pick.tolist(),
        "test_set_note": test_note,
    }
    latency = {
        "lvm_single_query_s": single,
        "lvm_batched_per_item_s": batch_s,
        "end_to_end_s": {
            name: single.value + r.metrics["lvm"]["latency_per_item_s"]
            for name, r in results.items()
            if r.status == "ok"
        },
    }
    comparison = ReconstructionComparison(
        kind=KIND,
        format=FORMAT,
        plan_section=PLAN_SECTION,
        provenance=prov,
        test_set={
            **ts.describe(),
            "note": test_note,
            "training_articles_from": trained_source if trained is not None else None,
            "shared_articles": shared,
            "shared_article_ids": shared_ids[:50],
        },
        model={
            **model.info,
            "spec": model.spec,
            "kind": model.kind,
            "dim": model.dim,
            "context_window": model.context_window,
            "trained_on": _trained_on(model),
        },
        sample=sample,
        vector=vector,
        decoders=results,
        latency=latency,
        baseline_1_4=base14,
        diagnostics=diagnostics,
        criteria=criteria,
        notes=tuple(notes),
        items=tuple(_items(pick, arts, tgt_rows, references, cos_items, per_item, n)),
    )
    if output is not None:
        comparison.write(output)
    return comparison


def _now() -> str:
    import datetime as _dt

    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _corpus_bleu(stats: np.ndarray) -> float:
    from lvmgate.metrics.reconstruction import corpus_bleu_from_stats

    return corpus_bleu_from_stats(stats)


def _single_query_seconds(model: ModelUnderTest, ctx: np.ndarray) -> Estimate:
    """LVM forward time per query at batch size 1 (after one warm-up call), mean with interval."""
    if len(ctx) == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 0)
    model.predict(ctx[:1])
    times = []
    for i in range(len(ctx)):
        t0 = time.perf_counter()
        model.predict(ctx[i : i + 1])
        times.append(time.perf_counter() - t0)
    return bootstrap_mean(np.asarray(times), seed=0)


def _trained_on(model: ModelUnderTest) -> dict[str, Any] | None:
    t = model.train_data
    if not t:
        return None
    return {
        k: t.get(k)
        for k in ("path", "dataset", "fingerprint", "store", "context_window", "dim", "n_articles")
    }


def _baseline_reference(path: str | os.PathLike | None, ts: TestSet) -> dict[str, Any] | None:
    """The 1.4 artifact's headline numbers, reported beside the paired ones (never judged: it was
    measured on other chunks)."""
    if path is None:
        return None
    from lvmgate.baseline import baseline_to_beat

    data = read_json(path)
    if not isinstance(data, dict) or data.get("kind") != "vec2text_baseline":
        raise InputError(
            f"--baseline {path}: not a vec2text_baseline artifact (lvmgate vec2text-baseline writes one)"
        )
    prov = data.get("provenance") or {}
    numbers = baseline_to_beat(data)
    out = {
        "path": str(path),
        "dataset": prov.get("dataset"),
        "sample_size": prov.get("sample_size"),
        "exclude_self": (prov.get("params") or {}).get("exclude_self"),
        "backends": {
            b: {k: v for k, v in m.items() if k in ("bleu4", "round_trip_cosine", "latency_mean_s")}
            for b, m in numbers.items()
        },
    }
    if prov.get("dataset") != ts.dataset or prov.get("fingerprint") != ts.fingerprint:
        out["note"] = (
            f"measured on dataset {prov.get('dataset')!r} (fingerprint {prov.get('fingerprint')}), "
            f"not on the test set's bank {ts.dataset!r} ({ts.fingerprint})"
        )
    return out


def _diagnostics(
    model: ModelUnderTest,
    ts: TestSet,
    ctx: np.ndarray,
    tgt: np.ndarray,
    pred: np.ndarray,
    boot: PairedBootstrap,
) -> dict[str, Any]:
    """The plan's three questions, answered with numbers from the same windows."""
    from lvmgate.metrics.reconstruction import cosine_rows

    finite = np.isfinite(pred).all(axis=1)
    order = cosine_rows(tgt, ctx[:, -1]) - cosine_rows(tgt, ctx[:, 0])
    p = pred[finite].astype(np.float64)
    unit = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    centre = unit.mean(axis=0)
    norm = float(np.linalg.norm(centre)) if len(unit) else 0.0
    spread = float(np.mean(unit @ (centre / norm))) if norm > 0 else float("nan")
    trained = _trained_on(model) or {}
    return {
        "order_margin": boot.mean(order),  # cos(next, last ctx) - cos(next, first ctx)
        "copy_cosine": float(np.mean(cosine_rows(pred[finite], ctx[finite, -1])))
        if finite.any()
        else float("nan"),
        "prediction_spread": spread,  # mean cos of predictions with their mean direction
        "nonfinite_predictions": int((~finite).sum()),
        "norm": {
            "prediction": float(np.mean(np.linalg.norm(p, axis=1))) if len(p) else float("nan"),
            "target": float(np.mean(np.linalg.norm(tgt, axis=1))),
            "context": float(np.mean(np.linalg.norm(ctx, axis=2))),
        },
        "trained_on": trained or None,
        "tested_on": {"dataset": ts.dataset, "fingerprint": ts.fingerprint, "encoder": ts.encoder},
        "same_bank": (trained.get("fingerprint") == ts.fingerprint) if trained else None,
    }


def diagnostics_text(d: dict[str, Any]) -> str:
    """The plan's diagnostics as one paragraph of measured answers."""
    om = d["order_margin"]
    om = om if isinstance(om, Estimate) else Estimate.from_dict(om)
    nrm = d["norm"]
    trained = d.get("trained_on") or {}
    tested = d.get("tested_on") or {}
    if trained:
        bank = (
            "the same bank the model was trained on"
            if d.get("same_bank")
            else f"NOT the bank the model was trained on ({trained.get('dataset')}, fingerprint {trained.get('fingerprint')})"
        )
    else:
        bank = "the model's training bank is unknown (no training log)"
    return (
        f"{DIAGNOSTICS_HEAD}. Is data truly sequential? On these test windows cos(next, last context) - "
        f"cos(next, first context) = {om.value:+.3f} [{om.low:+.3f}, {om.high:+.3f}] (<= 0: no order signal "
        "to learn; see gates 1.1 and 2.1.order_margin). Model architecture correct? cos(prediction, last "
        f"context vector) = {d['copy_cosine']:.3f} (near 1: copying), predictions' mean cosine with their "
        f"mean direction = {d['prediction_spread']:.3f} (near 1: one output for every input), "
        f"{d['nonfinite_predictions']} non-finite predictions. Vectors normalized properly? mean norm: "
        f"prediction {nrm['prediction']:.3f}, next vector {nrm['target']:.3f}, context {nrm['context']:.3f}; "
        f"tested on {tested.get('dataset')} (encoder {tested.get('encoder') or 'undeclared'}), {bank}."
    )


def _fmt(e: Estimate | None, digits: int = 3) -> str:
    if e is None:
        return "n/a"
    return f"{e.value:.{digits}f} [{e.low:.{digits}f}, {e.high:.{digits}f}]"


def _criteria(
    results: dict[str, DecoderComparison],
    vector: dict[str, dict[str, Estimate]],
    margins: dict[str, Estimate],
    single: Estimate,
    shared: int | None,
    shared_ids: list[str],
    trained_source: str,
    ts: TestSet,
    base14: dict[str, Any] | None,
    diagnostics: dict[str, Any],
    policy: Policy,
    n: int,
) -> dict[str, Criterion]:
    """Every 2.3 criterion, measured or not measured with the reason (in the registry's order)."""
    crit: dict[str, Criterion] = {}
    m, nm = Criterion.measured, Criterion.not_measured

    def put(c: Criterion) -> None:
        crit[c.id] = c

    n_art = len(np.unique(ts.article_ids))
    if shared is None:
        put(nm("2.3.shared_articles", trained_source))
    else:
        why = f"{n_art} test articles checked against the {trained_source}"
        if shared:
            shown = ", ".join(shared_ids[:10]) + (f" and {shared - 10} more" if shared > 10 else "")
            why += f"; shared: {shown}"
        put(m("2.3.shared_articles", Estimate.exact(shared, n_art), why))
    cos = {p: vector[p]["cosine"].value for p in PREDICTORS}
    cos_line = (
        f"cos(prediction, true next vector) on {n} held-out windows: LVM {cos['lvm']:.3f}, "
        f"copy-last {cos['copy_last']:.3f}, context-mean {cos['context_mean']:.3f}"
    )
    put(m("2.3.lvm_cosine", vector["lvm"]["cosine"], cos_line))
    for base in ("copy_last", "context_mean"):
        put(m(f"2.3.cosine_margin_{base}", margins[base], cos_line))
    ends = ", ".join(
        f"{b} {r.metrics['lvm']['latency_per_item_s'] * 1000:.3g} ms/item"
        for b, r in results.items()
        if r.status == "ok"
    )
    put(
        m(
            "2.3.latency_s",
            single,
            f"LVM forward pass per query at batch size 1 ({single.n} queries); decoding adds: {ends}",
        )
    )
    for b, r in results.items():
        ids = [f"2.3.bleu4_margin_copy_last[{b}]", f"2.3.bleu4_margin_context_mean[{b}]"]
        if b in VEC2TEXT_BACKENDS:
            ids = [f"2.3.bleu4_vs_vec2text[{b}]", f"2.3.cosine_vs_vec2text[{b}]", *ids]
        if r.status != "ok":
            why = (
                f"{b} not requested: add it to --backends / --vec2text-backends (the plan compares jxe,ielab)"
                if r.status == "not_requested"
                else f"{b} {r.status}: {r.reason}" + _measured_14(base14, b)
            )
            for cid in ids:
                put(nm(cid, why))
            continue
        mt = r.metrics
        bl = {p: mt[p]["bleu4"].value for p in mt}
        for base in ("copy_last", "context_mean"):
            put(
                m(
                    f"2.3.bleu4_margin_{base}[{b}]",
                    r.comparisons[f"bleu4_margin_{base}"],
                    f"BLEU-4 of {b}-decoded predictions vs the true next chunk's text: LVM {bl['lvm']:.3f}, "
                    f"{BASELINE_LABEL[base]} {bl[base]:.3f}"
                    + (" (context rows excluded from the answers)" if b == "nearest" else ""),
                )
            )
        if b not in VEC2TEXT_BACKENDS:
            continue
        line = (
            f"BLEU-4 with {b}: LVM prediction {bl['lvm']:.3f}, true next vector decoded (the 1.4 baseline on "
            f"the same items, a ceiling) {bl[TRUTH]:.3f}; ratio LVM / baseline"
        ) + _measured_14(base14, b)
        put(_vs_vec2text(f"2.3.bleu4_vs_vec2text[{b}]", r.comparisons["bleu4_vs_vec2text"], mt[TRUTH]["bleu4"],
                   f"{b}'s BLEU-4 on the true next vectors", line))  # fmt: skip
        est = r.comparisons.get("cosine_vs_vec2text")
        if est is None:
            put(nm(f"2.3.cosine_vs_vec2text[{b}]",
                   "no encoder to re-encode decoded text with: text cosine not computed (pass --encoder)"))  # fmt: skip
            continue
        tc = {p: mt[p]["text_cosine"].value for p in (TRUTH, "lvm")}
        line = (
            f"decoded text re-encoded, cosine with the true next vector: LVM {tc['lvm']:.3f}, true vector "
            f"decoded {tc[TRUTH]:.3f}; ratio LVM / baseline"
        )
        put(_vs_vec2text(f"2.3.cosine_vs_vec2text[{b}]", est, mt[TRUTH]["text_cosine"],
                   f"{b}'s own round trip of the true vectors", line))  # fmt: skip
    text = diagnostics_text(diagnostics)
    out = {}
    for cid in CRITERIA:
        c = crit[cid]
        if c.is_measured and cid != "2.3.shared_articles" and c.judged(policy).status == FAIL:
            c = c.with_reason(text)
        out[cid] = c
    return out


def _vs_vec2text(cid: str, est: Estimate, ceiling: Estimate, what: str, line: str) -> Criterion:
    """LVM / vec2text on the same items, measured only when vec2text's own number (the ceiling) is
    distinguishable from 0: a ratio to nothing means nothing."""
    if ceiling.low > 0 and np.isfinite(est.value):
        return Criterion.measured(cid, est, line)
    return Criterion.not_measured(
        cid, f"{what}, {_fmt(ceiling)}, is not distinguishable from 0: a ratio to it means nothing ({line})"
    )


def _measured_14(base14: dict[str, Any] | None, backend: str) -> str:
    if not base14 or backend not in (base14.get("backends") or {}):
        return ""
    m = base14["backends"][backend]
    bits = []
    for key, label in (("bleu4", "BLEU-4"), ("round_trip_cosine", "round-trip cos")):
        e = m.get(key)
        if isinstance(e, dict):
            e = Estimate.from_dict(e)
        if e is not None:
            bits.append(f"{label} {e.value:.3f}")
    return f" [1.4 artifact, its own {base14.get('sample_size')} chunks: {', '.join(bits)}]" if bits else ""


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
