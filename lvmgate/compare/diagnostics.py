"""Why the LVM scored what it did: how its predictions relate to the context and to the true next
chunk, and the 1.4 baseline it is read against.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lvmgate.compare.inputs import ModelUnderTest, TestSet, _trained_on
from lvmgate.compare.result import DIAGNOSTICS_HEAD
from lvmgate.errors import InputError
from lvmgate.io import read_json
from lvmgate.results import Estimate
from lvmgate.stats import PairedBootstrap


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
