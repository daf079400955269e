"""The 4.4 deployment boxes a good deployment passes (test_readiness.py) shown failing, each on a
deliberately bad model or deployment, through the same artifacts `lvmgate readiness` writes and
the same reading (`deployment_checklist`): a model INT8 breaks, one that gains nothing from batching,
a server slower than the plan's p99, a server answering for another model, and a deployment that
hides its /metrics."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from lvmgate.deploy.loadtest import run_loadtest
from lvmgate.deploy.predictor import batch_curve
from lvmgate.deploy.quantize import quantize_report, synthetic_eval
from lvmgate.deploy.server import running_server
from lvmgate.lvm.load import load_model
from lvmgate.readiness import api_checks, deployment_checklist, model_identity
from lvmgate.stores import EmbeddedStore
from lvmgate.synth.learnable import drift_corpus
from lvmgate.testing.proof import expect

WINDOW = 4
HOSTILE = "lvmgate.testing.models:quantization_hostile"
PER_ITEM = "lvmgate.testing.models:per_item_model"
SLOW = "lvmgate.testing.models:slow_model"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy_proofs")
    st = EmbeddedStore(root / "store")
    c = drift_corpus(20, seed=6)
    st.ingest("drift", c.records, c.vectors, encoder=c.meta["encoder"])
    st.close()
    return root


def checklist(folder: Path, spec: str, **artifacts: dict):
    """Write the artifacts as `lvmgate readiness` does (tagged with the model's digest), read them back."""
    model = model_identity(spec)
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in artifacts.items():
        (folder / f"{name}.json").write_text(json.dumps({**body, "model_digest": model.digest}))
    return deployment_checklist(folder, model).criteria()


def serve(store: Path, spec: str):
    return running_server(["--lvm-model", spec, "--store", str(store / "store"), "--dataset", "drift",
                           "--window", str(WINDOW)])  # fmt: skip


@pytest.mark.proves(stop=["4.4.int8_cosine"])
def test_a_model_int8_breaks_is_stop(tmp_path):
    q = quantize_report(
        load_model(HOSTILE).module, synthetic_eval(WINDOW, n=64, bank_rows=512), window=WINDOW
    )
    c = expect(checklist(tmp_path, HOSTILE, quantize=q.to_dict()), "4.4.int8_cosine", "fail")
    assert c.value.value < 0.5


@pytest.mark.proves(stop=["4.4.batch_speedup"])
def test_a_model_that_gains_nothing_from_batching_is_stop(tmp_path):
    curve = batch_curve(load_model(PER_ITEM, window=WINDOW).predictor, window=WINDOW, batch_sizes=(1, 16),
                        min_seconds=0.1, min_repeats=2)  # fmt: skip
    c = expect(
        checklist(tmp_path, PER_ITEM, export={"batch_curve": curve.to_dict()}), "4.4.batch_speedup", "fail"
    )
    assert c.value.value < 1.5


@pytest.mark.proves(stop=["4.4.load_p99_ms"])
def test_a_server_slower_than_the_plans_p99_is_stop(store, tmp_path):
    with serve(store, SLOW) as srv:
        lt = run_loadtest(srv.url, qps=4, duration=2.0, connections=4, window=WINDOW)
    assert lt.error_count == 0  # slow, not broken: every request answered
    c = expect(checklist(tmp_path, SLOW, loadtest=lt.to_dict()), "4.4.load_p99_ms", "fail")
    assert c.value.value > 1000


@pytest.mark.proves(stop=["4.4.api_failures"])
def test_a_server_answering_for_another_model_fails_the_api_checks(store, tmp_path):
    mine = load_model("preset:tiny:0", window=WINDOW)
    bank = EmbeddedStore(store / "store").vectors("drift")
    with serve(store, "preset:tiny:1") as srv:
        checks = api_checks(srv.url, mine.predictor, np.asarray(bank), WINDOW)
        lt = run_loadtest(srv.url, qps=20, duration=1.0, connections=4, window=WINDOW)
    body = {**lt.to_dict(), "api": {"checks": [c.to_dict() for c in checks]}}
    c = expect(checklist(tmp_path, "preset:tiny:0", loadtest=body), "4.4.api_failures", "fail")
    assert "predict_json" in c.reason


class _HideMetrics(BaseHTTPRequestHandler):
    """Forwards every request to the real server except /metrics (404): monitoring left out."""

    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int] = ("127.0.0.1", 0)

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/metrics"):
            status, headers, data = 404, {"Content-Type": "text/plain"}, b"not here"
        else:
            conn = http.client.HTTPConnection(*self.upstream, timeout=10)
            conn.request(self.command, self.path, body=body, headers={
                k: v for k, v in self.headers.items() if k.lower() in ("content-type", "accept")})  # fmt: skip
            resp = conn.getresponse()
            status, data = resp.status, resp.read()
            headers = {"Content-Type": resp.getheader("Content-Type", "application/octet-stream")}
            conn.close()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward

    def log_message(self, *args) -> None:
        pass


@pytest.mark.proves(stop=["4.4.monitoring_failures"])
def test_a_deployment_without_metrics_is_stop(store, tmp_path):
    with serve(store, "context_mean") as srv:
        handler = type("H", (_HideMetrics,), {"upstream": ("127.0.0.1", srv.port)})
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        try:
            lt = run_loadtest(f"http://127.0.0.1:{proxy.server_port}", qps=20, duration=1.0, connections=4,
                              window=WINDOW)  # fmt: skip
        finally:
            proxy.shutdown()
    assert lt.error_count == 0  # predictions flow; only monitoring is missing
    c = expect(checklist(tmp_path, "context_mean", loadtest=lt.to_dict()), "4.4.monitoring_failures", "fail")
    assert "/metrics parses as Prometheus text" in c.reason
