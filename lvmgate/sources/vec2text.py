"""1.4 artifact: the vec2text baseline (and the nearest round-trip check)."""

from __future__ import annotations

from lvmgate import __version__
from lvmgate.artifacts import GateContext, Source, fmt, register
from lvmgate.errors import InputError

# -- 1.4 vec2text baseline ----------------------------------------------------------------------
VEC2TEXT_BACKENDS = ("jxe", "ielab")


def _vec2text_baseline(ctx: GateContext) -> tuple[dict, bool]:
    """1.4: requested vec2text backends whose weights exist, plus `nearest` for the round-trip check.

    Backends without weights are listed under `unavailable` (their criteria are skipped, so the
    phase can be WARN but never a silent GO on a baseline nobody measured).
    """
    from lvmgate.baseline import compute_vec2text_baseline
    from lvmgate.decoders.vec2text import FETCH_HELP, weights_available
    from lvmgate.io import read_json

    dataset = ctx.require_dataset()
    requested = [
        b.strip()
        for b in (ctx.options.get("backends") or ",".join(VEC2TEXT_BACKENDS)).split(",")
        if b.strip()
    ]
    model_path = ctx.options.get("model_path")
    unavailable = {
        b: f"vec2text weights not found (jxm/gtr__nq__32 and jxm/gtr__nq__32__correct): {FETCH_HELP}"
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
                and prov.get("lvmgate_version") == __version__
            )
            if same and cached.get("complete", True):
                return _with_criteria(cached, unavailable, requested), False
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
    return _with_criteria(art.to_dict(), unavailable, requested), True


def _with_criteria(art: dict, unavailable: dict[str, str], requested: list[str]) -> dict:
    """The artifact with every 1.4 criterion: measured, or not measured with the reason."""
    from lvmgate.baseline import baseline_criteria
    from lvmgate.criteria import criteria_dict

    out = {**art, "unavailable": unavailable, "requested": requested}
    out["criteria"] = criteria_dict(baseline_criteria(art, unavailable))
    return out


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
                bits.append(f"{label} {fmt(v)}")
        if bits:
            out.append(f"1.4 {name}: " + "; ".join(bits) + ".")
    if r.get("unavailable"):
        out.append(f"1.4 not run (weights missing, see Not Measured): {', '.join(r['unavailable'])}.")
    return out


VEC2TEXT_BASELINE = register(
    Source("vec2text_baseline", 1, _vec2text_baseline, _baseline_findings, sections=("1.4",))
)
