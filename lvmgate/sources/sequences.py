"""2.1 artifact: checks of the prepared training data named by --data."""

from __future__ import annotations

from lvmgate.artifacts import GateContext, Source, register
from lvmgate.errors import InputError


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


register(Source("sequences", 2, _sequences, _sequence_findings, whole=True))
