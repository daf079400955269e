"""2.3's criteria from the measured comparison: the LVM against copy-last and context-mean (margins),
against vec2text's own reconstruction (the plan's GO point), latency and leakage.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lvmgate.compare.diagnostics import diagnostics_text
from lvmgate.compare.inputs import TestSet
from lvmgate.compare.result import (
    BASELINE_LABEL,
    CRITERIA,
    PREDICTORS,
    TRUTH,
    VEC2TEXT_BACKENDS,
    DecoderComparison,
)
from lvmgate.criteria import Criterion
from lvmgate.policy import FAIL, Policy
from lvmgate.results import Estimate


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
