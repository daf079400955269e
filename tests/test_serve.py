"""The HTTP API against a real `lvmgate serve` process on loopback, through a real HTTP client (httpx).

copy_last is the served predictor here, so every answer can be checked exactly: the predicted
vector is the context's last vector, and its nearest bank row is that vector's own row.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest

from lvmgate.deploy import (
    Bf16ExactIndex,
    MicroBatcher,
    QueueFull,
    QueueTimeout,
    parse_prometheus,
    run_loadtest,
    running_server,
)
from lvmgate.deploy.metrics import sample_sum
from lvmgate.retrieval.search import ExactIndex
from lvmgate.stores import open_store
from lvmgate.synth import synthesize

DIM = 768


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    corpus = synthesize(40, seed=3)
    path = str(tmp_path_factory.mktemp("serve-store") / "store")
    s = open_store(path)
    s.ingest("demo", corpus.records, corpus.vectors, encoder=corpus.meta["encoder"])
    return s


@pytest.fixture(scope="module")
def bank(store) -> np.ndarray:
    return np.asarray(store.vectors("demo"))


@pytest.fixture(scope="module")
def server(store, tmp_path_factory):
    logs = tmp_path_factory.mktemp("serve-logs")
    args = [
        "--lvm-model",
        "copy_last",
        "--store",
        store.url,
        "--dataset",
        "demo",
        "--max-wait-ms",
        "5",
        "--max-request-batch",
        "8",
        "--max-context",
        "16",
        "--log-file",
        str(logs / "server.jsonl"),
    ]
    with running_server(args, log_path=logs / "stderr.log") as srv:
        srv.log_file = logs / "server.jsonl"
        yield srv


def _check_copy_last(pred: dict, bank: np.ndarray, row: int, store, k: int) -> None:
    np.testing.assert_array_equal(np.asarray(pred["vector"], dtype=np.float32), bank[row])
    nbrs = pred["neighbors"]
    assert len(nbrs) == k
    assert nbrs[0]["row"] == row and nbrs[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert nbrs[0]["text"] == store.texts("demo", [row])[0]
    scores = [n["score"] for n in nbrs]
    assert scores == sorted(scores, reverse=True)
    _, exact_rows = ExactIndex(bank).search(bank[row][None], k)
    assert [n["row"] for n in nbrs] == exact_rows[0].tolist()  # the whole bank, exact


def test_predict_json_returns_next_vector_and_whole_bank_neighbours(server, bank, store):
    r = httpx.post(server.url + "/predict", json={"context": bank[100:105].tolist(), "top_k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "copy_last" and len(body["predictions"]) == 1
    _check_copy_last(body["predictions"][0], bank, 104, store, 5)


def test_predict_binary_batch_of_contexts(server, bank, store):
    rows = [20, 300, 611]
    ctx = np.stack([bank[r - 3 : r + 1] for r in rows])  # (3, 4, 768), each ends at its row
    r = httpx.post(
        server.url + "/predict?n=3&top_k=3",
        content=ctx.astype("<f4").tobytes(),
        headers={"content-type": "application/octet-stream"},
    )
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == 3
    for pred, row in zip(preds, rows):
        _check_copy_last(pred, bank, row, store, 3)


def test_predict_from_texts_uses_the_datasets_encoder(server, bank, store):
    texts = store.texts("demo", [40, 41, 42])
    r = httpx.post(server.url + "/predict", json={"texts": texts, "top_k": 2, "include_vector": False})
    assert r.status_code == 200, r.text
    pred = r.json()["predictions"][0]
    assert "vector" not in pred
    assert pred["neighbors"][0]["row"] == 42 and pred["neighbors"][0]["text"] == texts[-1]


def test_concurrent_requests_are_micro_batched(server, bank):
    async def burst():
        async with httpx.AsyncClient(base_url=server.url, limits=httpx.Limits(max_connections=32)) as client:
            reqs = [
                client.post("/predict", json={"context": bank[i : i + 3].tolist(), "top_k": 1})
                for i in range(48)
            ]
            return await asyncio.gather(*reqs)

    before = parse_prometheus(httpx.get(server.url + "/metrics").text)
    answers = asyncio.run(burst())
    after = parse_prometheus(httpx.get(server.url + "/metrics").text)
    assert all(a.status_code == 200 for a in answers)
    for i, a in enumerate(answers):  # every request got its own answer back, not a neighbour's
        assert a.json()["predictions"][0]["neighbors"][0]["row"] == i + 2
    assert max(a.json()["batch_size"] for a in answers) > 1
    batches = sample_sum(after, "lvmgate_batch_size_count") - sample_sum(before, "lvmgate_batch_size_count")
    contexts = sample_sum(after, "lvmgate_batch_size_sum") - sample_sum(before, "lvmgate_batch_size_sum")
    assert contexts == 48 and batches < 48


def _json(body) -> dict:
    return {"content": json.dumps(body).encode(), "headers": {"content-type": "application/json"}}


BAD_REQUESTS = {
    "bad json": (
        400,
        "invalid JSON",
        {"content": b'{"context": [[0.1, ', "headers": {"content-type": "application/json"}},
    ),
    "NaN literal": (
        400,
        "NaN",
        {"content": b'{"context": [[NaN]]}', "headers": {"content-type": "application/json"}},
    ),
    "not an object": (400, "JSON object", _json([1, 2, 3])),
    "no context": (400, "exactly one of", _json({"top_k": 3})),
    "ragged": (400, "array of numbers", _json({"context": [[0.1] * DIM, [0.2] * 5]})),
    "strings": (400, "array of numbers", _json({"context": [["a"] * DIM]})),
    "wrong dimension": (422, "dimension 768, got 512", _json({"context": [[0.1] * 512] * 3})),
    "null value": (422, "NaN, null or infinite", _json({"context": [[0.1] * 767 + [None]]})),
    "top_k zero": (422, "top_k", _json({"context": [[0.1] * DIM], "top_k": 0})),
    "top_k huge": (422, "top_k", _json({"context": [[0.1] * DIM], "top_k": 10_000})),
    "oversized batch": (413, "exceed the limit 8", _json({"contexts": [[[0.1] * DIM]] * 9})),
    "context too long": (413, "exceeds the limit 16", _json({"context": [[0.1] * DIM] * 17})),
    "empty texts": (400, "texts", _json({"texts": []})),
    "content type": (
        415,
        "application/json or application/octet-stream",
        {"content": b"x", "headers": {"content-type": "text/plain"}},
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_malformed_requests_get_4xx_with_a_message(server, case):
    status, message, kwargs = BAD_REQUESTS[case]
    r = httpx.post(server.url + "/predict", **kwargs)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["status"] == status and message in err["message"]


def test_binary_body_checks(server, bank):
    post = lambda data, q="": httpx.post(  # noqa: E731
        server.url + "/predict" + q, content=data, headers={"content-type": "application/octet-stream"}
    )
    r = post(np.zeros(DIM + 1, "<f4").tobytes())
    assert r.status_code == 422 and "768-D float32" in r.json()["error"]["message"]
    nan = bank[:3].copy()
    nan[1, 7] = np.nan
    r = post(nan.astype("<f4").tobytes())
    assert r.status_code == 422 and "vector 1, component 7" in r.json()["error"]["message"]
    r = post(np.zeros((17, DIM), "<f4").tobytes())
    assert r.status_code == 413
    r = post(np.zeros((4 * 17, DIM), "<f4").tobytes(), "?n=4")  # body over the binary size limit
    assert r.status_code == 413 and "exceeds" in r.json()["error"]["message"]
    r = post(np.zeros((3, DIM), "<f4").tobytes(), "?n=2")  # 3 vectors do not split into 2 contexts
    assert r.status_code == 422
    assert httpx.get(server.url + "/health").json()["status"] == "ok"


def test_health_describes_model_bank_and_limits(server, bank):
    h = httpx.get(server.url + "/health").json()
    assert h["status"] == "ok" and h["model"]["name"] == "copy_last"
    assert h["bank_rows"] == len(bank) and h["dim"] == DIM and h["window"] is None
    assert h["encoder"].startswith("hashing")
    assert h["limits"]["max_request_batch"] == 8 and h["limits"]["max_context"] == 16
    assert h["search"]["exact"] is True and h["search"]["requested"] == "auto"
    assert h["logging"]["format"] == "json-lines" and h["logging"]["lines"] > 0


def test_metrics_are_prometheus_text(server, bank):
    httpx.post(server.url + "/predict", json={"context": bank[:2].tolist()})
    httpx.post(server.url + "/predict", json={"context": [[1.0]]})
    r = httpx.get(server.url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    parsed = parse_prometheus(text)
    for family, kind in [
        ("lvmgate_requests_total", "counter"),
        ("lvmgate_request_duration_seconds", "histogram"),
        ("lvmgate_queue_depth", "gauge"),
        ("lvmgate_batch_size", "histogram"),
        ("lvmgate_rejected_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
    ]:
        assert f"# TYPE {family} {kind}\n" in text and f"# HELP {family} " in text
    assert sample_sum(parsed, "lvmgate_requests_total", endpoint="/predict", status="200") >= 1
    assert sample_sum(parsed, "lvmgate_requests_total", endpoint="/predict", status="422") >= 1
    buckets = parsed["lvmgate_request_duration_seconds_bucket"]
    ordered = [
        v for _, v in sorted(buckets.items(), key=lambda kv: float(dict(kv[0])["le"].replace("+Inf", "inf")))
    ]
    assert ordered == sorted(ordered)  # cumulative
    assert ordered[-1] == parsed["lvmgate_request_duration_seconds_count"][()]
    assert parsed["process_resident_memory_bytes"][()] > 10e6
    with pytest.raises(ValueError, match="line 2"):
        parse_prometheus("# TYPE x counter\nx{a=b} 1\n")  # the parser is strict: unquoted label


def test_logs_are_one_json_object_per_line(server, bank):
    httpx.post(server.url + "/predict", json={"context": bank[:2].tolist()})
    httpx.post(server.url + "/predict", content=b"{", headers={"content-type": "application/json"})
    lines = server.log_file.read_text().splitlines()
    events = [json.loads(line) for line in lines]
    kinds = {e["event"] for e in events}
    assert {"start", "batch", "request_error"} <= kinds
    batch = next(e for e in events if e["event"] == "batch")
    assert {"ts", "pid", "size", "requests", "compute_ms", "queue_wait_max_ms", "queue_depth"} <= set(batch)
    assert any(e["event"] == "request_error" and e["status"] == 400 for e in events)


def test_overload_answers_429_quickly_and_memory_stays_bounded(store, tmp_path):
    # a deliberately slow drain (2 contexts per batch, each batch waiting 10 ms for company) under
    # 3000 req/s from 200 connections: the project's open-loop client, raw HTTP/1.1 over sockets
    args = [
        "--lvm-model",
        "copy_last",
        "--store",
        store.url,
        "--dataset",
        "demo",
        "--max-batch",
        "2",
        "--max-request-batch",
        "2",
        "--max-wait-ms",
        "10",
        "--max-queue",
        "4",
    ]
    bank = np.asarray(store.vectors("demo"))
    with running_server(args, log_path=tmp_path / "overload.log") as srv:
        run_loadtest(srv.url, qps=1000, duration=0.5, connections=200, timeout=10)  # warm-up: pools, buffers
        rss_before = srv.rss_bytes()
        burst = run_loadtest(srv.url, qps=3000, duration=1.0, connections=200, timeout=10)
        rss_after = srv.rss_bytes()
        assert burst.sent == burst.completed == 3000  # every request answered: no drop, no crash
        assert set(burst.errors) <= {"http_429"}
        n429 = burst.errors["http_429"]
        assert n429 > 1500 and burst.ok >= 20
        assert rss_after - rss_before < 64 * 2**20
        h = srv.health()
        assert h["status"] == "ok" and h["queue_depth"] == 0 and srv.process.poll() is None
        parsed = parse_prometheus(httpx.get(srv.url + "/metrics").text)
        assert sample_sum(parsed, "lvmgate_rejected_total", reason="queue_full") >= n429
        assert sample_sum(parsed, "lvmgate_requests_total", endpoint="/predict", status="429") >= n429
        # refusals are quick, they do not queue: timed inside the server, where the client's share of
        # the 2 cores cannot blur it (the client's refused_ms is reported, but measures the client too)
        n_ref, s_ref = (sample_sum(parsed, f"lvmgate_refusal_duration_seconds_{x}") for x in ("count", "sum"))
        n_all, s_all = (sample_sum(parsed, f"lvmgate_request_duration_seconds_{x}") for x in ("count", "sum"))
        assert n_ref >= n429 and burst.refused_ms["p50"] > 0
        assert s_ref / n_ref < (s_all - s_ref) / (n_all - n_ref)
        r = httpx.post(srv.url + "/predict", json={"context": bank[:3].tolist(), "top_k": 1})
        assert r.status_code == 200 and r.json()["predictions"][0]["neighbors"][0]["row"] == 2
        events = [json.loads(line) for line in (tmp_path / "overload.log").read_text().splitlines()]
        assert any(
            e["event"] == "overload" and e["rejected"] > 0 for e in events
        )  # summarised, not per request


# -- the pieces, in process ------------------------------------------------------------------------------
def test_micro_batcher_batches_bounds_and_expires():
    calls: list[int] = []

    def work(payloads):
        calls.append(len(payloads))
        return [p * 10 for p in payloads]

    async def scenario():
        b = MicroBatcher(work, max_batch=4, max_wait_s=0.01, max_queue=6, timeout_s=5.0)
        b.start()
        got = await asyncio.gather(*[b.submit(i) for i in range(6)])
        assert got == [i * 10 for i in range(6)] and calls[:2] == [4, 2]
        pending = [asyncio.ensure_future(b.submit(i)) for i in range(6)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):
            await b.submit(99)  # 6 contexts already queued
        assert await asyncio.gather(*pending) == [i * 10 for i in range(6)]
        await b.stop()

        slow = MicroBatcher(
            lambda ps: (__import__("time").sleep(0.2), ps)[1], max_batch=1, max_wait_s=0, timeout_s=0.05
        )
        slow.start()
        first = asyncio.ensure_future(slow.submit("a"))
        await asyncio.sleep(0.01)
        with pytest.raises(QueueTimeout):
            await slow.submit("b")  # waited behind a 200 ms batch, past its 50 ms deadline
        assert await first == "a"
        await slow.stop()

    asyncio.run(scenario())


def test_bf16_search_is_exact(bank):
    rng = np.random.default_rng(0)
    q = np.concatenate(
        [
            bank[rng.choice(len(bank), 48)] + rng.standard_normal((48, DIM)).astype(np.float32) * 0.02,
            rng.standard_normal((16, DIM)).astype(np.float32),  # nothing close: scores bunch together
        ]
    )
    s_exact, r_exact = ExactIndex(bank).search(q, 10)
    index = Bf16ExactIndex(bank)
    s_bf16, r_bf16 = index.search(q, 10)
    np.testing.assert_array_equal(r_bf16, r_exact)
    np.testing.assert_allclose(s_bf16, s_exact, atol=1e-5)  # re-scored in float32
    assert index.queries == 64


def test_bf16_certificate_falls_back_when_it_cannot_vouch():
    # 300 rows whose scores for the query lie within ~0.005 of each other: inside the bf16 error bound
    rng = np.random.default_rng(1)
    base = rng.standard_normal(DIM).astype(np.float32)
    bank = base + rng.standard_normal((300, DIM)).astype(np.float32) * 0.1
    bank[7] = np.nan  # an unusable row never matches
    index = Bf16ExactIndex(bank, extra=8)
    _, rows = index.search(base[None], 5)
    _, exact_rows = ExactIndex(bank).search(base[None], 5)
    assert index.fallbacks == 1 and rows.tolist() == exact_rows.tolist() and 7 not in rows
    _, ex_rows = index.search(base[None], 5, exclude=exact_rows[:, :2])
    assert ex_rows[0, :3].tolist() == exact_rows[0, 2:].tolist()
