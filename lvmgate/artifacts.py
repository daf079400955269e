"""The artifacts gates read: a registry of named sources (how to compute or load each one, which
phase it belongs to, its plots and its key findings), and a read-only view over artifact JSON.

Gates never compute: a fixture asks `GateContext.artifact(name)`, which loads a cached artifact
whose provenance still matches or computes and caches a fresh one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvmgate.errors import InputError
from lvmgate.policy import Policy
from lvmgate.results import Estimate


class View(dict):
    """A dict with attribute access; {value, low, high, n} dicts come back as Estimates."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        return wrap(super().__getitem__(key))


def wrap(value: Any) -> Any:
    if isinstance(value, dict):
        if {"value", "low", "high", "n"} <= set(value):
            return Estimate.from_dict(value)
        return View(value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


@dataclass
class GateContext:
    """What the gate fixtures know about this run: store, dataset, options, policy, caches."""

    store_url: str | None
    dataset: str | None
    artifacts_dir: Path
    policy: Policy
    limit: int | None = None
    seed: int = 0
    recompute: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    _store: Any = None
    _artifacts: dict[str, dict] = field(default_factory=dict)
    recomputed: dict[str, bool] = field(default_factory=dict)

    @property
    def store(self):
        if self._store is None:
            from lvmgate.stores import open_store

            self._store = open_store(self.store_url)
        return self._store

    def require_dataset(self) -> str:
        if not self.dataset:
            raise InputError("--dataset NAME is required for this gate")
        self.store.require(self.dataset)
        return self.dataset

    def artifact(self, name: str) -> View:
        """The named artifact (cached by name for the session)."""
        if name not in self._artifacts:
            source = SOURCES[name]
            data, fresh = source.compute(self)
            self._artifacts[name] = data
            self.recomputed[name] = fresh
        return View(self._artifacts[name])

    def loaded(self) -> dict[str, dict]:
        return dict(self._artifacts)

    def path_for(self, name: str) -> Path:
        return self.artifacts_dir / (self.dataset or "_") / f"{name}.json"

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


@dataclass(frozen=True)
class Source:
    """How to get one artifact and how to present it."""

    name: str
    phase: int
    compute: Callable[[GateContext], tuple[dict, bool]]
    findings: Callable[[dict], list[str]] = lambda result: []
    plots: tuple[str, ...] = ()  # keys of lvmgate.report.plots.PLOTS


SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    SOURCES[source.name] = source
    return source


# -- phase 1: the plan's validation tools --------------------------------------------------------
def _phase1(tool: str) -> Callable[[GateContext], tuple[dict, bool]]:
    def compute(ctx: GateContext) -> tuple[dict, bool]:
        from lvmgate.validation import cached_artifact

        dataset = ctx.require_dataset()
        return cached_artifact(
            tool,
            ctx.store,
            dataset,
            ctx.path_for(tool),
            limit=ctx.limit,
            seed=ctx.seed,
            policy=ctx.policy,
            recompute=ctx.recompute,
        )

    return compute


def _fmt(e: dict, digits: int = 3) -> str:
    return f"{e['value']:.{digits}g} [{e['low']:.{digits}g}, {e['high']:.{digits}g}]"


def _coherence_findings(r: dict) -> list[str]:
    out = [
        f"Consecutive chunks: mean cosine {_fmt(r['mean'])} over {r['n_pairs']:,} pairs in {r['n_articles']:,} "
        f"articles; random pairs {_fmt(r['null_mean'])}; lift {_fmt(r['lift'])}.",
        f"Decay: lag 1 {r['decay'][0]['value']:.3f} -> lag {len(r['decay'])} {r['decay'][-1]['value']:.3f}; "
        f"order margin (lag 1 - lag {r['order_lag']}) {_fmt(r['order_margin'])}.",
    ]
    if r["zero_rows"] or r["nan_rows"]:
        out.append(
            f"Invalid vectors: {r['zero_rows']:,} all-zero and {r['nan_rows']:,} NaN rows "
            f"({r['pairs_excluded_invalid']:,} pairs excluded from every average)."
        )
    if r["duplicate_positions"] or r["position_gaps"]:
        out.append(
            f"Positions: {r['duplicate_positions']:,} rows repeat the previous chunk_index and "
            f"{r['position_gaps']:,} skip ahead inside their article."
        )
    if r.get("worst_pairs"):
        w = r["worst_pairs"][0]
        out.append(
            f"Worst pair: {w['article_id']} chunks {w['chunk_a']}->{w['chunk_b']} cosine {w['cosine']:.3f}."
        )
    return out


def _tmd_findings(r: dict) -> list[str]:
    top = r["domains"][0] if r["domains"] else None
    out = []
    if top:
        out.append(f"Largest domain: {top['name']} with {top['pct']:.1f}% of {r['n_chunks']:,} chunks.")
    out.append(
        f"Unknown (code 0 + untagged): {_fmt(r['unknown_pct'])}%; domains above {r['present_pct']:g}%: "
        f"{r['domains_over_5pct']['value']:.0f}."
    )
    if r["invalid_codes"]:
        out.append(f"{r['invalid_codes']:,} rows carry domain codes outside 0..15.")
    return out


def _boundary_findings(r: dict) -> list[str]:
    out = [
        f"Sentence-complete endings: {_fmt(r['sentence_complete_pct'])}% of {r['n_chunks']:,} chunks; "
        f"mean length {r['mean_length_chars']['value']:.0f} chars (median {r['median_length_chars']:.0f}).",
    ]
    if r["short_chunks"] or r["long_chunks"]:
        out.append(
            f"{r['short_chunks']:,} chunks under {r['short_chars']} and {r['long_chunks']:,} over "
            f"{r['long_chars']} characters."
        )
    if r.get("incomplete_examples"):
        ex = r["incomplete_examples"][0]
        out.append(f'Example of an incomplete ending ({ex["reason"]}): "...{ex["text"][-80:]}"')
    return out


register(Source("coherence", 1, _phase1("coherence"), _coherence_findings, ("coherence",)))
register(Source("tmd", 1, _phase1("tmd"), _tmd_findings, ("tmd",)))
register(Source("boundaries", 1, _phase1("boundaries"), _boundary_findings, ("boundaries",)))


# -- 1.4 vec2text baseline ----------------------------------------------------------------------
VEC2TEXT_BACKENDS = ("jxe", "ielab")


def _vec2text_baseline(ctx: GateContext) -> tuple[dict, bool]:
    """1.4: requested vec2text backends whose weights exist, plus `nearest` for the round-trip check.

    Backends without weights are listed under `unavailable` (their criteria are skipped, so the
    phase can be WARN but never a silent GO on a baseline nobody measured).
    """
    from lvmgate.baseline import compute_vec2text_baseline
    from lvmgate.decoders.vec2text import weights_available
    from lvmgate.io import read_json

    dataset = ctx.require_dataset()
    requested = [
        b.strip()
        for b in (ctx.options.get("backends") or ",".join(VEC2TEXT_BACKENDS)).split(",")
        if b.strip()
    ]
    model_path = ctx.options.get("model_path")
    unavailable = {
        b: "vec2text weights not found (jxm/gtr__nq__32 and jxm/gtr__nq__32__correct); see docs/decoders.md"
        for b in requested
        if b in VEC2TEXT_BACKENDS and not weights_available(model_path)
    }
    run = [b for b in requested if b not in unavailable]
    if "nearest" not in run:
        run.append("nearest")  # the round-trip compatibility check needs no weights
    sample_size = ctx.options.get("sample_size") or ctx.policy.param("reconstruction_sample_size")
    path = ctx.path_for("vec2text_baseline")
    info = ctx.store.info(dataset)
    if not ctx.recompute and path.is_file():
        try:
            cached = read_json(path)
            prov = cached["provenance"]
            same = (
                prov["fingerprint"] == info.fingerprint
                and prov["sample_size"] == sample_size
                and prov["seed"] == ctx.seed
                and sorted(prov["params"]["backends"]) == sorted(run)
                and prov["params"].get("encoder") == (ctx.options.get("encoder") or info.encoder)
                and prov.get("lvmgate_version") == _version()
            )
            if same and cached.get("complete", True):
                return {**cached, "unavailable": unavailable, "requested": requested}, False
        except (KeyError, TypeError, ValueError, InputError):
            pass
    art = compute_vec2text_baseline(
        ctx.store,
        dataset,
        run,
        sample_size=sample_size,
        seed=ctx.seed,
        device=ctx.options.get("device"),
        encoder=ctx.options.get("encoder"),
        model_path=model_path,
        policy=ctx.policy,
        output=path,
    )
    return {**art.to_dict(), "unavailable": unavailable, "requested": requested}, True


def _version() -> str:
    from lvmgate import __version__

    return __version__


def _baseline_findings(r: dict) -> list[str]:
    out = []
    for name, summ in (r.get("summary") or {}).items():
        bits = []
        for key, label in (
            ("bleu4", "BLEU-4"),
            ("round_trip_cosine", "round-trip cos"),
            ("exact_match", "exact"),
        ):
            v = summ.get(key)
            if isinstance(v, dict) and v.get("value") is not None:
                bits.append(f"{label} {_fmt(v)}")
        if bits:
            out.append(f"1.4 {name}: " + "; ".join(bits) + ".")
    out += [f"1.4 {b}: not run ({why})." for b, why in (r.get("unavailable") or {}).items()]
    return out


register(Source("vec2text_baseline", 1, _vec2text_baseline, _baseline_findings))


# -- phase 2: 2.1 prepared training data ---------------------------------------------------------
def _sequences(ctx: GateContext) -> tuple[dict, bool]:
    """2.1 checks of the prepared set named by --data (checked fresh each run: it is cheap)."""
    from lvmgate.metrics.sequence_checks import check_sequences
    from lvmgate.sequences.loader import PreparedSet

    data = ctx.options.get("data")
    if not data:
        raise InputError("gate 2.1 needs --data artifacts/lvm/NAME.npz (from `lvmgate prepare`)")
    prepared = PreparedSet.load(data, store=ctx.store_url)
    checks = check_sequences(
        prepared, store=ctx.store_url, resamples=ctx.policy.param("bootstrap_resamples"), seed=ctx.seed
    )
    provenance = {"data": str(data), "meta": {k: prepared.meta.get(k) for k in ("bank", "params", "files")}}
    return {
        "tool": "sequences",
        "provenance": provenance,
        "result": checks.to_dict(),
        "criteria": {k: v.to_dict() for k, v in checks.criteria().items()},
    }, True


def _sequence_findings(r: dict) -> list[str]:
    n = r["n_windows"]
    return [
        "Windows: "
        + ", ".join(f"{k} {v:,}" for k, v in n.items())
        + f"; context shape {tuple(r['shape'])}; articles per split "
        + ", ".join(f"{k} {v:,}" for k, v in r["n_articles"].items())
        + ".",
        f"Shared articles between splits: {r['shared_articles']}; duplicate sequences: {r['duplicate_sequences']}; "
        f"bad windows: {r['bad_windows']}.",
    ]


register(Source("sequences", 2, _sequences, _sequence_findings))


def default_artifacts_dir() -> Path:
    return Path(os.environ.get("LVMGATE_ARTIFACTS", "artifacts/validation"))


# -- phase 2: 2.2 training run -------------------------------------------------------------------
def _training(ctx: GateContext) -> tuple[dict, bool]:
    """2.2: the run named by --lvm-model (log, checkpoint measured again, model vs baselines)."""
    from lvmgate.training.assess import training_artifact

    return training_artifact(ctx)


def _training_findings(r: dict) -> list[str]:
    from lvmgate.training.assess import findings

    return findings(r)


register(Source("training", 2, _training, _training_findings))
