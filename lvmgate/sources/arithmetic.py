"""2.4 artifact: lvmgate.arithmetic.gate.arithmetic_gate for --lvm-model (what the criterion can and
cannot say is written there)."""

from __future__ import annotations

from lvmgate.arithmetic.gate import arithmetic_gate
from lvmgate.artifacts import GateContext, Source, fmt, register


def _arithmetic(ctx: GateContext) -> tuple[dict, bool]:
    """2.4 for --lvm-model (cheap: recomputed every run)."""
    dataset_encoder = None
    if ctx.dataset:
        dataset_encoder = ctx.store.info(ctx.require_dataset()).encoder
    params = ctx.policy.params
    art = arithmetic_gate(
        str(ctx.options["lvm_model"]),
        encoder=ctx.options.get("encoder"),
        dataset_encoder=dataset_encoder,
        resamples=int(params["bootstrap_resamples"]),
        seed=ctx.seed,
    )
    from lvmgate.io import write_json

    write_json(ctx.artifacts_dir / (ctx.dataset or "_") / "vector_arithmetic_lvm.json", art)
    return art, True


def _findings(res: dict) -> list[str]:
    if "spaces" not in res:
        return [f"2.4 not run: {res.get('reason')}"]
    sp = res["spaces"]
    out = [
        f"2.4 analogies ({res['n_analogies']}, vocabulary {res['vocab_size']}, encoder {res['encoder'].split(':')[0]}): "
        f"top-3 LVM space {fmt(sp['lvm']['top3'])}, encoder space {fmt(sp['encoder']['top3'])}, chance "
        f"{sp['lvm']['chance_top3']:.4f}; retention {fmt(res['retention'])}; LVM images vs inputs: mean cos "
        f"{res['identity_cosine']:.3f}."
    ]
    if not res.get("applicable"):
        out.append(f"2.4 not judged: {res.get('reason')}")
    return out


ARITHMETIC = register(Source("arithmetic", 2, _arithmetic, _findings, needs="lvm_model", sections=("2.4",)))
