"""Artifact sources for the gates, one module per plan section family. Each module registers its
sources (`NAME = register(Source(...))`) with lvmgate.artifacts; importing this package registers all
of them. The pytest plugin makes one fixture per source; `judge_phase` judges a phase without pytest.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lvmgate.artifacts import ARTIFACT_OPTIONS, SOURCES, GateContext, default_artifacts_dir
from lvmgate.criteria import Criterion
from lvmgate.errors import InputError
from lvmgate.policy import Policy, criterion_ids
from lvmgate.sources import arithmetic, phase1, phase3, phase4, reconstruction, sequences, training, vec2text

MODULES = (phase1, vec2text, sequences, training, reconstruction, arithmetic, phase3, phase4)


def judged(ctx: GateContext, phase: int, sections: Iterable[str] | None = None) -> list[Criterion]:
    """Every criterion of `phase` (or of those plan `sections` only) in the registry's order, judged
    under the context's policy: what the phase's gate tests check, without pytest."""
    wanted = set(sections) if sections is not None else None
    out = []
    for source in SOURCES.values():
        if source.phase == phase and (wanted is None or wanted & set(source.sections)):
            art = ctx.artifact(source)
            out += [art.criterion(cid).judged(ctx.policy) for cid in source.criterion_ids()]
    order = {cid: i for i, cid in enumerate(criterion_ids())}
    return sorted(out, key=lambda c: order[c.id])


def judge_phase(
    phase: int,
    *,
    store: str | None = None,
    dataset: str | None = None,
    artifacts_dir: str | os.PathLike | None = None,
    policy: Policy | None = None,
    limit: int | None = None,
    seed: int = 0,
    sections: Iterable[str] | None = None,
    **options: Any,
) -> list[Criterion]:
    """Every criterion of `phase`, judged, exactly as `lvmgate gate phaseN` judges it (the same
    sources, cache and policy) but without pytest or reports: for notebooks, tools and tests.
    `options` are the gate's artifact options by name (data, val_data, lvm_model, backends, ...)."""
    from lvmgate.policy import default_policy

    names = {flag[2:].replace("-", "_") for flag, _, _ in ARTIFACT_OPTIONS}
    unknown = set(options) - names
    if unknown:
        raise InputError(f"unknown gate option(s) {sorted(unknown)}; known: {sorted(names)}")
    ctx = GateContext(
        store,
        dataset,
        Path(artifacts_dir) if artifacts_dir else default_artifacts_dir(),
        policy or default_policy(),
        limit=limit,
        seed=seed,
        options={k: v for k, v in options.items() if v is not None},
    )
    try:
        return judged(ctx, phase, sections)
    finally:
        ctx.close()
