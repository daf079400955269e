"""What 2.3 produces: one DecoderComparison per decoder backend inside a ReconstructionComparison, its
criteria ids and file format.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvmgate.criteria import Criterion
from lvmgate.errors import InputError
from lvmgate.io import write_json
from lvmgate.policy import Policy, criterion_ids, load_policy
from lvmgate.results import Estimate, Result

KIND = "reconstruction_comparison"


FORMAT = "lvmgate.reconstruction/2"  # /2: next-concept metrics under "vector"


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
    vector: dict[str, dict[str, Estimate]]  # predictor -> cosine, next_vs_context, l2, round_trip_l2, CA, PAR
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
