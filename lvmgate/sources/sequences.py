"""2.1 artifact: checks of the prepared training data named by --data."""

from __future__ import annotations

from lvmgate.artifacts import GateContext, Source, register
from lvmgate.criteria import criteria_dict


# -- phase 2: 2.1 prepared training data ---------------------------------------------------------
def _sequences(ctx: GateContext) -> tuple[dict, bool]:
    """2.1 checks of the prepared set named by --data (checked fresh each run: it is cheap)."""
    from lvmgate.metrics.sequence_checks import check_sequences
    from lvmgate.sequences.loader import PreparedSet

    data = ctx.options.get("data")
    prepared = PreparedSet.load(data, store=ctx.store_url)
    checks = check_sequences(
        prepared, store=ctx.store_url, resamples=ctx.policy.param("bootstrap_resamples"), seed=ctx.seed
    )
    bank = prepared.meta.get("bank") or {}
    provenance = ctx.provenance(
        "sequences",
        sample_size=sum(checks.n_windows.values()),
        params={"data": str(data), "meta": {k: prepared.meta.get(k) for k in ("params", "files")}},
        dataset=bank.get("dataset"),
        fingerprint=bank.get("fingerprint"),
    )
    return {
        "tool": "sequences",
        "provenance": provenance,
        "result": checks.to_dict(),
        "criteria": criteria_dict(checks.criteria()),
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
    ] + (
        [
            f"Prepare dropped {sum(r['dropped'].values()):,} of {r['n_windows_built']:,} candidate windows: "
            + ", ".join(f"{k} {v:,}" for k, v in r["dropped"].items())
            + "."
        ]
        if r.get("dropped")
        else []
    )


SEQUENCES = register(Source("sequences", 2, _sequences, _sequence_findings, needs="data", sections=("2.1",)))
