"""`lvmgate readiness`: measure every 4.4 box for one model (export, quantisation, batching, the HTTP
API, monitoring, load test).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.io import write_json
from lvmgate.readiness.identity import (
    DEFAULT_DEPLOY_DIR,
    DEPLOY_FILES,
    ModelIdentity,
    load_model,
    model_identity,
)
from lvmgate.results import Result


# -- lvmgate readiness: measure every 4.4 box ----------------------------------------------------------
@dataclass(frozen=True)
class ApiCheck(Result):
    name: str
    ok: bool
    detail: str


def _http(url: str, body: bytes | None = None, ctype: str = "application/json", timeout: float = 10.0):
    """(status, body bytes) of one request; HTTP error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def api_checks(
    url: str, predictor: Any, bank: np.ndarray, window: int, *, top_k: int = 10, n: int = 4, seed: int = 0
) -> list[ApiCheck]:
    """The served API against the model and the bank, through a real HTTP client: health describes the
    bank; JSON and binary /predict answer what the model predicts, with the exact whole-bank top-k;
    malformed requests get the documented 4xx; /metrics parses."""
    from lvmgate.deploy.metrics import parse_prometheus
    from lvmgate.retrieval.search import ExactIndex

    out: list[ApiCheck] = []

    def add(name: str, ok: bool, detail: str) -> None:
        out.append(ApiCheck(name, bool(ok), detail))

    dim = int(bank.shape[1])
    try:
        status, body = _http(url + "/health")
        h = json.loads(body) if status == 200 else {}
        ok = (
            status == 200
            and h.get("status") == "ok"
            and h.get("dim") == dim
            and h.get("bank_rows") == len(bank)
        )
        add(
            "health",
            ok,
            f"HTTP {status}, status {h.get('status')}, dim {h.get('dim')}, bank_rows {h.get('bank_rows')}",
        )
    except (OSError, ValueError) as exc:
        add("health", False, f"{type(exc).__name__}: {exc}")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, max(1, len(bank) - window), size=n)
    ctx = np.stack([np.asarray(bank[s : s + window], dtype=np.float32) for s in starts])  # (n, w, D)
    local = np.asarray(predictor.predict(ctx), dtype=np.float32)  # (n, D)
    _, want = ExactIndex(bank, "numpy").search(local, top_k)  # (n, k)
    first = None
    try:
        payload = json.dumps({"contexts": ctx.tolist(), "top_k": top_k, "include_vector": True}).encode()
        status, body = _http(url + "/predict", payload)
        preds = json.loads(body).get("predictions", []) if status == 200 else []
        if status != 200 or len(preds) != n:
            add("predict_json", False, f"HTTP {status}: {body[:200]!r}")
        else:
            got = np.asarray([p["vector"] for p in preds], dtype=np.float32)
            first = got[0]
            cos = np.sum(got * local, 1) / np.maximum(
                np.linalg.norm(got, axis=1) * np.linalg.norm(local, axis=1), 1e-30
            )
            rows = [[nb["row"] for nb in p["neighbors"]] for p in preds]
            top1 = all(r[:1] == w[:1].tolist() for r, w in zip(rows, want))
            overlap = float(np.mean([len(set(r) & set(w.tolist())) / top_k for r, w in zip(rows, want)]))
            texts = all(
                isinstance(nb.get("text"), str) and nb["text"] for p in preds for nb in p["neighbors"]
            )
            ok = float(cos.min()) >= 0.9999 and top1 and overlap >= 0.9 and texts
            add(
                "predict_json",
                ok,
                f"{n} contexts: min cosine to the model's own prediction {cos.min():.6f}, top-1 equal {top1}, "
                f"top-{top_k} overlap with exact search {overlap:.2f}, texts {texts}",
            )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        add("predict_json", False, f"{type(exc).__name__}: {exc}")
    try:
        status, body = _http(
            url + f"/predict?n=1&top_k={top_k}", ctx[0].astype("<f4").tobytes(), "application/octet-stream"
        )
        preds = json.loads(body).get("predictions", []) if status == 200 else []
        ok = status == 200 and len(preds) == 1
        detail = f"HTTP {status}"
        if ok:
            v = np.asarray(preds[0]["vector"], dtype=np.float32)
            ref = first if first is not None else local[0]
            c = float(v @ ref / max(np.linalg.norm(v) * np.linalg.norm(ref), 1e-30))
            ok = c >= 0.9999
            detail += f", cosine to the JSON answer {c:.6f}"
        add("predict_binary", ok, detail)
    except (OSError, ValueError, KeyError) as exc:
        add("predict_binary", False, f"{type(exc).__name__}: {exc}")
    bad_cases = (
        (
            "rejects_wrong_dimension",
            json.dumps({"context": np.zeros((window, dim - 1)).tolist()}).encode(),
            422,
        ),
        ("rejects_bad_json", b'{"context": [[0.1, ', 400),
        ("rejects_null_values", json.dumps({"context": [[None] * dim] * window}).encode(), 422),
    )
    for name, payload, want_status in bad_cases:
        try:
            status, body = _http(url + "/predict", payload)
            msg = (json.loads(body).get("error") or {}).get("message", "") if body else ""
            add(name, status == want_status and bool(msg), f"HTTP {status} (want {want_status}): {msg[:120]}")
        except (OSError, ValueError) as exc:
            add(name, False, f"{type(exc).__name__}: {exc}")
    try:
        status, body = _http(url + "/metrics")
        fams = parse_prometheus(body.decode()) if status == 200 else {}
        add("metrics", status == 200 and bool(fams), f"HTTP {status}, {len(fams)} samples")
    except (OSError, ValueError) as exc:
        add("metrics", False, f"{type(exc).__name__}: {exc}")
    return out


@dataclass(frozen=True)
class ReadinessRun(Result):
    """What `run_readiness` wrote and how long each step took."""

    model: ModelIdentity
    out_dir: str
    paths: dict[str, str]
    seconds: dict[str, float]
    onnx_passed: bool | None
    served: str
    api_failures: int
    load: dict[str, Any]


def run_readiness(
    model_spec: str,
    *,
    store: str | None,
    dataset: str,
    out_dir: str | os.PathLike = DEFAULT_DEPLOY_DIR,
    exporter: str = "dynamo",
    opset: int = 18,
    tolerance: float = 1e-4,
    codec: str = "gzip",
    batch_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128),
    quantize_n: int = 512,
    qps: float = 1000.0,
    duration: float = 30.0,
    connections: int = 64,
    load_timeout: float = 5.0,
    threads: int = 1,
    serve_args: Sequence[str] = (),
    startup_timeout: float = 120.0,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> ReadinessRun:
    """Measure every 4.4 box for `model_spec` and write export.json, quantize.json and loadtest.json
    (plus model.onnx and the server's JSON log) to `out_dir`, each tagged with the model digest.

    Steps, each bounded: ONNX export + onnxruntime parity; compressed safetensors size; batch curve
    with whole-bank search; INT8 (torch, and onnxruntime on the export) against float32 on real
    windows with Recall@10; then a real `lvmgate serve` process on loopback (the ONNX file when its
    parity passed, else the PyTorch model): API integration checks, then an open-loop load test of
    `qps` for `duration` seconds. A failed export is recorded (the box will not tick), not raised.
    """
    from lvmgate.deploy.export import ExportReport, export_onnx
    from lvmgate.deploy.loadtest import run_loadtest
    from lvmgate.deploy.predictor import batch_curve, build_search
    from lvmgate.deploy.quantize import quantize_report, store_eval
    from lvmgate.deploy.server import running_server
    from lvmgate.deploy.weights import weights_size
    from lvmgate.results import Provenance
    from lvmgate.stores import open_store

    say = progress or (lambda _msg: None)
    if qps <= 0 or duration <= 0:
        raise InputError("--qps and --duration must be positive")
    out = Path(out_dir)
    loaded = load_model(model_spec, threads=threads)
    loaded.require_module("readiness")
    identity = model_identity(model_spec, loaded)
    window = loaded.window or 5
    seconds: dict[str, float] = {}
    paths: dict[str, str] = {}
    with contextlib.closing(open_store(store)) as st:
        info = st.require(dataset)
        if info.dim is None:
            raise InputError(f"dataset {dataset!r} has no vectors")
        if info.dim != loaded.dim:
            raise InputError(f"model predicts {loaded.dim}-D vectors, dataset {dataset!r} holds {info.dim}-D")
        bank = st.vectors(dataset)  # (N, D), memory-mapped for the embedded store

        def prov(params: dict[str, Any], sample: int = 0, tool: str = "readiness") -> Provenance:
            return Provenance(
                tool=tool,
                dataset=dataset,
                store=st.url,
                fingerprint=info.fingerprint,
                sample_size=sample,
                seed=seed,
                params={"lvm_model": str(model_spec), "model_digest": identity.digest, **params},
            )

        say(f"model {identity.spec}: {identity.kind}, digest {identity.digest}, window {window}")
        t = time.perf_counter()
        onnx_path = out / "model.onnx"
        onnx, onnx_error = None, None
        try:
            onnx = export_onnx(
                loaded.module,
                onnx_path,
                window=window,
                dim=loaded.dim,
                opset=opset,
                exporter=exporter,
                tolerance=tolerance,
                threads=threads,
            )
        except InputError as exc:  # an export that fails is a result: the ONNX box stays unticked
            onnx_error = str(exc)
        seconds["export"] = time.perf_counter() - t
        if onnx is not None:
            say(
                f"ONNX {onnx.path}: parity {'passed' if onnx.passed else 'FAILED'}, max diff {onnx.max_abs_diff:.2e}"
            )
        else:
            say(f"ONNX export failed: {onnx_error}")
        t = time.perf_counter()
        weights = weights_size(loaded.module, codec=codec)
        seconds["weights"] = time.perf_counter() - t
        t = time.perf_counter()
        curve = batch_curve(
            loaded.predictor,
            window=window,
            dim=loaded.dim,
            batch_sizes=batch_sizes,
            index=build_search(bank, "auto"),
        )
        seconds["batch_curve"] = time.perf_counter() - t
        report = ExportReport(
            loaded.describe(),
            onnx,
            weights,
            curve,
            prov({"window": window, "exporter": exporter, "opset": opset, "codec": codec}, tool="export"),
        )
        body = {**report.to_dict(), "model_digest": identity.digest, "onnx_error": onnx_error}
        paths["export"] = str(write_json(out / DEPLOY_FILES["export"], body))
        say(
            f"weights: {weights.codec} {weights.compressed_bytes:,} B; batch inference "
            f"x{curve.speedup_vs_batch1:.1f} at batch {curve.best_batch_size}"
        )

        t = time.perf_counter()
        data = store_eval(st, dataset, window, n=quantize_n, seed=seed)
        q = quantize_report(
            loaded.module,
            data,
            window=window,
            model_info=loaded.describe(),
            onnx_path=str(onnx_path) if onnx is not None and onnx.passed else None,
            out_dir=str(out / "int8"),
            threads=threads,
        )
        seconds["quantize"] = time.perf_counter() - t
        body = {
            **q.to_dict(),
            "model_digest": identity.digest,
            "provenance": prov({"window": window}, len(data.contexts), tool="quantize").to_dict(),
        }
        paths["quantize"] = str(write_json(out / DEPLOY_FILES["quantize"], body))
        say("INT8: " + ", ".join(f"{r.method} cosine {r.cosine_to_fp32_mean:.4f}" for r in q.results))

        served = str(onnx_path) if onnx is not None and onnx.passed else str(model_spec)
        log_path = out / "server.jsonl"
        with contextlib.suppress(FileNotFoundError):
            log_path.unlink()
        args = [
            "--lvm-model",
            served,
            "--dataset",
            dataset,
            "--threads",
            str(threads),
            "--log-file",
            str(log_path),
        ]
        if store:
            args += ["--store", str(store)]
        t = time.perf_counter()
        with running_server(
            [*args, *serve_args], log_path=out / "server.stderr", startup_timeout=startup_timeout
        ) as srv:
            seconds["server_start"] = time.perf_counter() - t
            t = time.perf_counter()
            checks = api_checks(srv.url, loaded.predictor, bank, window, seed=seed)
            seconds["api_checks"] = time.perf_counter() - t
            failed = [c for c in checks if not c.ok]
            say(
                f"API: {len(checks) - len(failed)}/{len(checks)} checks passed"
                + (f" (failed: {', '.join(c.name for c in failed)})" if failed else "")
            )
            t = time.perf_counter()
            result = run_loadtest(
                srv.url,
                qps=qps,
                duration=duration,
                connections=connections,
                timeout=load_timeout,
                bank=np.asarray(bank),
                seed=seed,
            )
            seconds["loadtest"] = time.perf_counter() - t
        load = {
            **result.to_dict(),
            "model_digest": identity.digest,
            "served": {"kind": "onnx" if served.endswith(".onnx") else loaded.kind, "path": served},
            "api": {"checks": [c.to_dict() for c in checks], "failures": len(failed)},
            "provenance": prov(
                {"qps": qps, "duration": duration, "connections": connections},
                result.scheduled,
                tool="loadtest",
            ).to_dict(),
        }
        paths["loadtest"] = str(write_json(out / DEPLOY_FILES["loadtest"], load))
    lat = result.latency_ms
    say(
        f"load test: {result.achieved_qps:,.0f} of {qps:,.0f} req/s offered for {duration:g} s, "
        f"p99 {lat['p99']:.1f} ms, errors {result.error_count} {result.errors or ''}"
    )
    return ReadinessRun(
        identity,
        str(out),
        paths,
        {k: round(v, 3) for k, v in seconds.items()},
        None if onnx is None else bool(onnx.passed),
        load["served"]["kind"],
        len(failed),
        {
            k: load[k]
            for k in ("target_qps", "achieved_qps", "duration_s", "error_count", "errors", "latency_ms")
        },
    )
