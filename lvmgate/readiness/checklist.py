"""Plan 4.4: the deployment checklist, each box read only from an artifact made for this model
(export.json, quantize.json, loadtest.json).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvmgate.criteria import Criterion, from_values
from lvmgate.readiness.identity import (
    DEPLOY_FILES,
    ArtifactStatus,
    ModelIdentity,
    artifact_status,
    finite,
    missing,
    read_optional,
)
from lvmgate.results import GIB, Estimate, Result, human_bytes

LOAD_IDS = ("4.4.load_qps", "4.4.load_p99_ms", "4.4.load_errors", "4.4.load_duration_s")


CHECKLIST_IDS = (
    "4.4.weights_gib",
    "4.4.onnx_max_abs_diff",
    "4.4.int8_cosine",
    "4.4.batch_speedup",
    "4.4.api_failures",
    *LOAD_IDS,
    "4.4.monitoring_failures",
)


# the plan's 4.4 checklist, box by box, and the criteria behind each
CHECKLIST = (
    ("Model weights < 4GB (compressed)", ("4.4.weights_gib",)),
    ("ONNX export successful", ("4.4.onnx_max_abs_diff",)),
    ("Quantization (INT8) tested", ("4.4.int8_cosine",)),
    ("Batch inference optimized", ("4.4.batch_speedup",)),
    ("API integration tested", ("4.4.api_failures",)),
    ("Load testing completed (1000 QPS)", LOAD_IDS),
    ("Monitoring/logging configured", ("4.4.monitoring_failures",)),
)


METRIC_FAMILIES = (
    "lvmgate_requests_total",
    "lvmgate_request_duration_seconds",
    "process_resident_memory_bytes",
)


# -- 4.4 deployment checklist --------------------------------------------------------------------------
@dataclass(frozen=True)
class DeploymentChecklist(Result):
    """The 4.4 boxes from the deployment artifacts: values (NaN = not usable) and what ticked them."""

    deploy_dir: str
    model: ModelIdentity
    artifacts: dict[str, ArtifactStatus]
    values: dict[str, Estimate]
    messages: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)

    def criteria(self) -> list[Criterion]:
        """Every 4.4 box: measured from an artifact made for this model, else not measured (missing,
        stale or made for another model: the reason says which and what to run)."""
        return from_values(self.values, self.messages)


def deployment_checklist(
    deploy_dir: str | os.PathLike, model: ModelIdentity, *, fingerprint: str | None = None
) -> DeploymentChecklist:
    """Read export.json, quantize.json and loadtest.json from `deploy_dir` and give each 4.4 box its
    value, only from artifacts made for `model` (and, when known, the dataset `fingerprint`)."""
    folder = Path(deploy_dir)
    arts: dict[str, dict | None] = {}
    status: dict[str, ArtifactStatus] = {}
    for name, file in DEPLOY_FILES.items():
        path = folder / file
        arts[name] = read_optional(path)
        status[name] = artifact_status(name, path, arts[name], model, fingerprint)
    values: dict[str, Estimate] = {}
    messages: dict[str, str] = {}
    details: dict[str, Any] = {}

    def blocked(ids: Sequence[str], st: ArtifactStatus) -> bool:
        if st.fresh:
            return False
        for cid in ids:
            values[cid] = missing("stale" if st.found else "missing")
            messages[cid] = st.reason
        return True

    ex = arts["export"] or {}
    if not blocked(("4.4.weights_gib", "4.4.onnx_max_abs_diff", "4.4.batch_speedup"), status["export"]):
        src = f"{status['export'].path} (model {model.digest[:12]})"
        w = ex.get("weights") or {}
        if finite(w.get("compressed_bytes")):
            values["4.4.weights_gib"] = Estimate.exact(w["compressed_bytes"] / GIB, 1)
            messages["4.4.weights_gib"] = (
                f"{w.get('codec')} {human_bytes(w['compressed_bytes'])} of {human_bytes(w.get('safetensors_bytes') or 0)} "
                f"safetensors, {w.get('params', 0):,} params ({src})"
            )
        else:
            values["4.4.weights_gib"] = missing()
            messages["4.4.weights_gib"] = f"{src} has no weights size"
        ox = ex.get("onnx")
        if isinstance(ox, dict) and finite(ox.get("max_abs_diff")):
            problems = []
            if not ox.get("dynamic_batch"):
                problems.append("the batch axis is not dynamic")
            if int(ox.get("opset") or 0) < 17:
                problems.append(f"opset {ox.get('opset')} < 17")
            what = (
                f"max |onnxruntime - torch| {ox['max_abs_diff']:.2e} over batches "
                f"{[p.get('batch_size') for p in ox.get('parity') or []]}, opset {ox.get('opset')}, "
                f"{ox.get('exporter')} exporter, dynamic batch {ox.get('dynamic_batch')}, window "
                f"{ox.get('window')} enforced {ox.get('window_enforced')} ({src})"
            )
            if problems:
                values["4.4.onnx_max_abs_diff"] = missing("invalid export")
                messages["4.4.onnx_max_abs_diff"] = "; ".join(problems) + f": {what}"
            else:
                values["4.4.onnx_max_abs_diff"] = Estimate.exact(
                    ox["max_abs_diff"], len(ox.get("parity") or [])
                )
                messages["4.4.onnx_max_abs_diff"] = what
            details["onnx"] = {
                k: ox.get(k) for k in ("path", "exporter", "opset", "max_abs_diff", "size_bytes")
            }
        else:
            values["4.4.onnx_max_abs_diff"] = missing("no ONNX export")
            messages["4.4.onnx_max_abs_diff"] = f"no ONNX export in {src}" + (
                f": {ex['onnx_error']}" if ex.get("onnx_error") else ""
            )
        bc = ex.get("batch_curve")
        if isinstance(bc, dict) and finite(bc.get("speedup_vs_batch1")):
            pts = bc.get("points") or []
            values["4.4.batch_speedup"] = Estimate.exact(bc["speedup_vs_batch1"], len(pts))
            first = pts[0] if pts else {}
            messages["4.4.batch_speedup"] = (
                f"{bc.get('best_sequences_per_s', float('nan')):,.0f} seq/s at batch {bc.get('best_batch_size')} vs "
                f"{first.get('sequences_per_s', float('nan')):,.0f} at batch {first.get('batch_size')}"
                + (
                    " (predict + whole-bank top-10 search)"
                    if bc.get("includes_search")
                    else " (predict only)"
                )
                + f" ({src})"
            )
        else:
            values["4.4.batch_speedup"] = missing("no batch curve")
            messages["4.4.batch_speedup"] = f"no batch curve in {src} (lvmgate readiness measures it)"

    q = arts["quantize"] or {}
    if not blocked(("4.4.int8_cosine",), status["quantize"]):
        routes = [r for r in q.get("results") or [] if finite(r.get("cosine_to_fp32_mean"))]
        if q.get("tested") and routes:
            best = max(routes, key=lambda r: r["cosine_to_fp32_mean"])
            values["4.4.int8_cosine"] = Estimate.exact(
                best["cosine_to_fp32_mean"], int(best.get("n_eval") or 1)
            )
            parts = []
            for r in routes:
                rc = r.get("recall_at_10_change")
                parts.append(
                    f"{r['method']}: cosine mean {r['cosine_to_fp32_mean']:.4f} min "
                    f"{r.get('cosine_to_fp32_min', float('nan')):.4f}, size x{r.get('size_ratio', float('nan')):.2f}, "
                    f"speed-up x{r.get('speedup', float('nan')):.2f}"
                    + (f", Recall@10 change {rc:+.3f}" if finite(rc) else "")
                )
            messages["4.4.int8_cosine"] = "; ".join(parts) + f" ({status['quantize'].path})"
        else:
            values["4.4.int8_cosine"] = missing("INT8 not tested")
            messages["4.4.int8_cosine"] = f"{status['quantize'].path} holds no INT8 result"

    lt = arts["loadtest"] or {}
    if not blocked((*LOAD_IDS, "4.4.api_failures", "4.4.monitoring_failures"), status["loadtest"]):
        src = status["loadtest"].path
        lat = lt.get("latency_ms") or {}
        errors = lt.get("errors") or {}
        scheduled = int(lt.get("scheduled") or 0)
        # sustained rate = 2xx answers per second of the schedule. The tool's `achieved_qps` divides by
        # first due time to last answer, which adds the last answer's latency: a perfect 30 s run at
        # 1000 QPS reads 999.9 there and could never pass ">= 1000". Late answers are the p99's business.
        ok, dur = lt.get("ok"), lt.get("duration_s")
        sustained = ok / dur if finite(ok) and finite(dur) and dur > 0 else float("nan")
        values["4.4.load_qps"] = Estimate.exact(sustained, scheduled) if finite(sustained) else missing()
        messages["4.4.load_qps"] = (
            f"{lt.get('ok', 0):,} of {scheduled:,} requests answered 2xx over {dur:g} s at "
            f"{lt.get('target_qps', float('nan')):,.0f} req/s offered (the tool's achieved_qps, to the last answer: "
            f"{lt.get('achieved_qps', float('nan')):,.1f}); {lt.get('connections')} connections, {lt.get('format')} "
            f"bodies, served {(lt.get('served') or {}).get('kind', '?')} ({src})"
        )
        p99 = lat.get("p99")
        values["4.4.load_p99_ms"] = Estimate.exact(p99, int(lt.get("ok") or 0)) if finite(p99) else missing()
        messages["4.4.load_p99_ms"] = (
            f"p99 {p99:.1f} ms from the scheduled send time (p50 {lat.get('p50', float('nan')):.1f}, "
            f"max {lat.get('max', float('nan')):.1f})"
            if finite(p99)
            else "no successful request: no latency"
        )
        values["4.4.load_errors"] = Estimate.exact(float(lt.get("error_count", math.nan)), scheduled)
        messages["4.4.load_errors"] = (
            "errors by kind: " + ", ".join(f"{k} {v:,}" for k, v in errors.items()) if errors else "no errors"
        )
        values["4.4.load_duration_s"] = (
            Estimate.exact(lt["duration_s"], scheduled) if finite(lt.get("duration_s")) else missing()
        )
        messages["4.4.load_duration_s"] = f"{scheduled:,} requests scheduled over {lt.get('duration_s')} s"
        api = lt.get("api")
        if isinstance(api, dict) and api.get("checks"):
            failed = [c for c in api["checks"] if not c.get("ok")]
            values["4.4.api_failures"] = Estimate.exact(len(failed), len(api["checks"]))
            messages["4.4.api_failures"] = (
                f"{len(api['checks']) - len(failed)}/{len(api['checks'])} API checks passed against the real server"
                + (
                    "; failed: " + "; ".join(f"{c['name']} ({c.get('detail', '')})" for c in failed)
                    if failed
                    else ""
                )
            )
        else:
            values["4.4.api_failures"] = missing("no API checks")
            messages["4.4.api_failures"] = (
                f"{src} records no API integration checks (lvmgate readiness runs them)"
            )
        checks = lt.get("checks") or {}
        fams = set(checks.get("metrics_families") or [])
        mon = {
            "/metrics parses as Prometheus text": bool(checks.get("metrics_parsed")),
            "metric families " + ", ".join(METRIC_FAMILIES): all(f in fams for f in METRIC_FAMILIES),
            "the server's request counter moved by what was answered": checks.get(
                "server_counted_all_answered"
            )
            is not False,
            "JSON log lines written": bool(checks.get("logs_written")),
            "/health ok after the load": bool(checks.get("health_ok")),
        }
        bad = [k for k, ok in mon.items() if not ok]
        values["4.4.monitoring_failures"] = Estimate.exact(len(bad), len(mon))
        logs = checks.get("logs") or {}
        messages["4.4.monitoring_failures"] = (
            f"{len(mon) - len(bad)}/{len(mon)} monitoring checks passed: {len(fams)} metric families, "
            f"{logs.get('lines', 0):,} {logs.get('format', '')} log lines to {logs.get('destination')}"
            + (f"; failed: {'; '.join(bad)}" if bad else "")
        )
        details["load"] = {
            k: lt.get(k) for k in ("target_qps", "achieved_qps", "duration_s", "error_count", "latency_ms")
        }
        details["server_rss_bytes"] = checks.get("server_rss_bytes")
    return DeploymentChecklist(str(folder), model, status, values, messages, details)
