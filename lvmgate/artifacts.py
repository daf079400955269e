"""The artifacts gates read: a registry of named sources (how to compute or load each one, which
phase it belongs to, its plots and its key findings), and a read-only view over artifact JSON.

Gates never compute: a fixture asks `GateContext.artifact(source)`, which loads a cached artifact
whose provenance still matches or computes and caches a fresh one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvmgate.criteria import Criterion, criteria_dict
from lvmgate.errors import InputError
from lvmgate.policy import Policy, criterion_ids
from lvmgate.results import Estimate, Provenance

# options artifact sources read from GateContext.options (key: the flag without dashes, '_' for '-');
# later phases' names follow the plan's flags
ARTIFACT_OPTIONS: tuple[tuple[str, type, str], ...] = (
    ("--data", str, "training sequences .npz (phase 2+)"),
    ("--val-data", str, "validation sequences .npz (phase 2+)"),
    ("--lvm-model", str, "trained LVM checkpoint (phase 2+)"),
    ("--test-set", str, "held-out test set (phase 2+)"),
    ("--backends", str, "decoder / retrieval backends, comma separated"),
    ("--sample-size", int, "items to sample for reconstruction tests"),
    ("--device", str, "cpu | cuda | mps"),
    ("--encoder", str, "encoder spec for round trips (default: the dataset's declared encoder)"),
    ("--model-path", str, "folder with vec2text weights (default: the Hugging Face cache)"),
    ("--deploy-dir", str, "deployment artifacts (default artifacts/deploy)"),
    ("--reconstruction", str, "the 2.3 comparison artifact (phase 4's BLEU-4)"),
    ("--grid", str, "grid folder from `lvmgate grid --out-dir` (phase 3); 3.2/3.3 default to its best run"),
)


class View(dict):
    """A dict with attribute access; {value, low, high, n} dicts come back as Estimates."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        return wrap(super().__getitem__(key))


class ArtifactView(View):
    """An artifact as the gates see it: attribute access, and `criterion(id)` as a Criterion that
    carries the artifact's provenance. An id the artifact does not hold is an error (never a skip):
    the gate test breaks and the phase is STOP, so no criterion can be dropped silently."""

    def __init__(self, name: str, data: dict[str, Any]):
        super().__init__(data)
        self._name = name

    def criterion(self, criterion_id: str) -> Criterion:
        raw = dict.get(self, "criteria") or {}
        if criterion_id not in raw:
            raise LookupError(
                f"artifact {self._name!r} holds no criterion {criterion_id!r} (it has: {', '.join(raw) or 'none'})"
            )
        c = Criterion.from_dict(raw[criterion_id])
        prov = dict.get(self, "provenance")
        brief = {"artifact": self._name}
        if isinstance(prov, dict):
            with contextlib.suppress(TypeError, ValueError):
                brief.update(Provenance.from_dict(prov).brief())
        return c.with_provenance(brief)

    def criteria_list(self) -> list[Criterion]:
        return [self.criterion(cid) for cid in (dict.get(self, "criteria") or {})]


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

    def artifact(self, source: Source | str) -> ArtifactView:
        """The source's artifact (cached by name for the session). Without the option the source needs
        (e.g. --lvm-model), every criterion of its sections is not measured, with that reason."""
        name = source if isinstance(source, str) else source.name
        if name not in self._artifacts:
            source = SOURCES[name]
            if source.needs and not self.options.get(source.needs):
                data, fresh = not_measured_artifact(source, source.needs_reason()), False
            else:
                data, fresh = source.compute(self)
            self._artifacts[name] = data
            self.recomputed[name] = fresh
        return ArtifactView(name, self._artifacts[name])

    def provenance(
        self,
        tool: str,
        *,
        sample_size: int | None = None,
        params: dict[str, Any] | None = None,
        dataset: str | None = None,
        store: str | None = None,
        fingerprint: str | None = None,
    ) -> dict[str, Any]:
        """A Provenance record for an artifact made in this run (dataset and fingerprint default to
        --dataset's, when it is given and exists)."""
        from lvmgate.io import redact_url

        dataset = dataset or self.dataset
        if fingerprint is None and dataset and dataset == self.dataset:
            try:
                fingerprint = self.store.info(dataset).fingerprint
            except InputError:
                fingerprint = None
        return Provenance(
            dataset=dataset,
            store=redact_url(store or self.store_url),
            fingerprint=fingerprint,
            sample_size=sample_size,
            seed=self.seed,
            params=dict(params or {}),
            policy_digest=self.policy.digest,
            tool=tool,
        ).to_dict()

    def cached(
        self,
        name: str,
        key: dict[str, Any],
        compute: Callable[[], dict[str, Any]],
        *,
        path: Path | None = None,
        reuse: bool = True,
    ) -> tuple[dict[str, Any], bool]:
        """(artifact, freshly computed?): the one artifact cache of the gates. The stored artifact
        `name` is reused when it was made under the same `key` (everything its numbers depend on:
        file digests, options, seed, policy, version) and neither --recompute nor `reuse=False` says
        otherwise; else `compute()` is stored with its key, atomically."""
        from lvmgate.io import as_read_back, read_json, write_json

        path = path or self.path_for(name)
        key = as_read_back(key)
        if reuse and not self.recompute and path.is_file():
            with contextlib.suppress(InputError, ValueError):
                art = read_json(path)
                if isinstance(art, dict) and art.get("key") == key:
                    return art, False
        art = {**compute(), "key": key}
        write_json(path, art)
        return art, True

    def loaded(self) -> dict[str, dict]:
        return dict(self._artifacts)

    def path_for(self, name: str) -> Path:
        return self.artifacts_dir / (self.dataset or "_") / f"{name}.json"

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


@dataclass(frozen=True)
class Source:
    """How to get one artifact and how to present it.

    The plugin makes a session fixture named `name` for every source: the artifact as an
    ArtifactView. Without the option `needs`, every criterion of `sections` is not measured.
    """

    name: str
    phase: int
    compute: Callable[[GateContext], tuple[dict, bool]]
    findings: Callable[[dict], list[str]] = lambda result: []
    plots: tuple[str, ...] = ()  # keys of lvmgate.report.plots.PLOTS
    needs: str | None = None  # a GateContext option without which the artifact is not computed
    sections: tuple[str, ...] = ()  # plan sections whose criteria this artifact holds

    def criterion_ids(self) -> tuple[str, ...]:
        return tuple(cid for s in self.sections for cid in criterion_ids(s))

    def needs_reason(self) -> str:
        flag = "--" + (self.needs or "").replace("_", "-")
        return f"no {flag} given: {', '.join(self.sections)} not measured"


def not_measured_artifact(source: Source, reason: str) -> dict[str, Any]:
    """An artifact in which every criterion of `source` is not measured, for `reason`."""
    return {
        "tool": source.name,
        "not_measured": reason,
        "criteria": criteria_dict([Criterion.not_measured(cid, reason) for cid in source.criterion_ids()]),
    }


SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    SOURCES[source.name] = source
    return source


def fmt(e: dict, digits: int = 3) -> str:
    """'0.42 [0.41, 0.43]' from an Estimate dict, for findings."""
    return f"{e['value']:.{digits}g} [{e['low']:.{digits}g}, {e['high']:.{digits}g}]"


def default_artifacts_dir() -> Path:
    return Path(os.environ.get("LVMGATE_ARTIFACTS", "artifacts/validation"))
