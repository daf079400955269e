"""Open-loop HTTP load generator: requests on a fixed clock, latency from the *scheduled* send time.

Request i is due at t0 + i / qps whatever happened to earlier ones (open loop). A pool of
keep-alive HTTP/1.1 connections (raw asyncio streams, uvloop when installed) takes the due requests
in order; when every connection is busy the next request waits, and that wait is part of its
latency, because latency is measured from the time the request was due, not from when it could be
sent (so a stalled server cannot hide behind a slowed-down client: no coordinated omission).
The run is bounded in count (qps * duration, capped by `max_requests`) and in time (duration +
timeout: whatever has not answered by then counts as a timeout).

Errors are counted by kind: `http_<status>` for non-2xx answers, `timeout`, `connect`,
`disconnected` (the server closed or reset the connection), `protocol` (an unparseable answer),
`not_sent` (no connection became free before the hard deadline).
Before and after the run it reads /health and /metrics, checks that /metrics parses as Prometheus
text, and that the server's request counter moved by what was sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from lvmgate.errors import InputError
from lvmgate.results import Result

FORMATS = ("binary", "json")


@dataclass(frozen=True)
class LoadTestResult(Result):
    """What a load test measured; the phase-4 gate reads `achieved_qps`, `latency_ms` and `errors`."""

    url: str
    target_qps: float
    duration_s: float
    connections: int
    format: str
    window: int
    dim: int
    top_k: int
    scheduled: int  # requests the schedule held
    sent: int
    completed: int  # answered with any status
    ok: int  # 2xx answers
    error_count: int
    errors: dict[str, int]  # by kind
    elapsed_s: float  # first due time to last answer
    offered_qps: float  # sent / schedule span
    achieved_qps: float  # ok answers / elapsed
    latency_ms: dict[str, float]  # from the scheduled time: p50 p90 p95 p99 p999 max mean (2xx only)
    service_ms: dict[str, float]  # from the actual send (what a closed-loop tool would report)
    send_lag_ms: dict[str, float]  # actual send - scheduled (client or connection-pool lateness)
    refused_ms: dict[str, float]  # service time of 429 / 503 answers: overload must be refused fast
    server_batch_size_mean: float | None  # from /metrics, over the run
    checks: dict[str, Any] = field(default_factory=dict)  # health, metrics parse, counter deltas, logs
    environment: dict[str, Any] = field(default_factory=dict)  # cpus, load averages, client

    @property
    def passed_zero_errors(self) -> bool:
        return self.error_count == 0


def make_bodies(
    fmt: str,
    *,
    window: int,
    dim: int,
    top_k: int,
    n_bodies: int = 32,
    seed: int = 0,
    bank: np.ndarray | None = None,
) -> tuple[list[bytes], str, str]:
    """(request bodies, content type, query string): random unit contexts, or consecutive bank rows."""
    from lvmgate.lvm.predictor import random_contexts

    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r} (use {' or '.join(FORMATS)})")
    if bank is not None and len(bank) > window:
        rng = np.random.default_rng(seed)
        starts = rng.integers(0, len(bank) - window, size=n_bodies)
        ctx = np.stack([np.asarray(bank[s : s + window], dtype=np.float32) for s in starts])
    else:
        ctx = random_contexts(n_bodies, window, dim, seed=seed)  # (n, w, D)
    if fmt == "binary":
        bodies = [c.astype("<f4").tobytes() for c in ctx]
        return bodies, "application/octet-stream", f"?top_k={top_k}"
    bodies = [json.dumps({"context": c.tolist(), "top_k": top_k}).encode() for c in ctx]
    return bodies, "application/json", ""


def _request_bytes(host: str, port: int, path: str, body: bytes, ctype: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


class _ProtocolError(Exception):
    pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, keep_alive) of one HTTP/1.1 response; the body is read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise _ProtocolError(f"bad status line {lines[0][:80]!r}")
    status = int(parts[1])
    length, chunked, keep = None, False, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        raise _ProtocolError("response without Content-Length")
    return status, keep


def _pct(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {k: float("nan") for k in ("p50", "p90", "p95", "p99", "p999", "max", "mean")}
    q = np.percentile(values, [50, 90, 95, 99, 99.9])
    return {
        "p50": float(q[0]),
        "p90": float(q[1]),
        "p95": float(q[2]),
        "p99": float(q[3]),
        "p999": float(q[4]),
        "max": float(values.max()),
        "mean": float(values.mean()),
    }


async def _get(host: str, port: int, path: str, timeout: float) -> tuple[int, bytes]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    return status, body


def _dechunk(data: bytes) -> bytes:
    out, pos = [], 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2 : end + 2 + size])
        pos = end + 2 + size + 2


async def _scrape(host: str, port: int, timeout: float) -> dict[str, Any]:
    """Health JSON and parsed /metrics (or the error that stopped either)."""
    from lvmgate.deploy.metrics import parse_prometheus

    out: dict[str, Any] = {}
    try:
        status, body = await _get(host, port, "/health", timeout)
        out["health_status"] = status
        out["health"] = json.loads(body)
    except Exception as exc:  # a load test must report a broken /health, not crash on it
        out["health_error"] = f"{type(exc).__name__}: {exc}"
    try:
        status, body = await _get(host, port, "/metrics", timeout)
        out["metrics_status"] = status
        out["metrics"] = parse_prometheus(body.decode())
    except Exception as exc:
        out["metrics_error"] = f"{type(exc).__name__}: {exc}"
    return out


async def run_loadtest_async(
    url: str,
    *,
    qps: float,
    duration: float,
    connections: int = 64,
    fmt: str = "binary",
    window: int | None = None,
    dim: int | None = None,
    top_k: int = 10,
    timeout: float = 5.0,
    max_requests: int = 1_000_000,
    bodies: list[bytes] | None = None,
    content_type: str | None = None,
    bank: np.ndarray | None = None,
    seed: int = 0,
) -> LoadTestResult:
    """The load test on the running event loop; see `run_loadtest`."""
    if qps <= 0 or duration <= 0:
        raise InputError("--qps and --duration must be positive")
    if connections < 1:
        raise InputError("--connections must be at least 1")
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise InputError(f"--url must be http://HOST:PORT[/path], got {url!r}")
    host, port = parts.hostname, parts.port or 80
    path = parts.path if parts.path not in ("", "/") else "/predict"
    total = round(qps * duration)
    if total > max_requests:
        raise InputError(f"{total} requests exceed --max-requests {max_requests}: lower --qps or --duration")
    total = max(total, 1)

    before = await _scrape(host, port, timeout)
    health = before.get("health") or {}
    if "health_error" in before:
        raise InputError(f"{url}: the server does not answer /health ({before['health_error']})")
    window = int(window or health.get("window") or 5)
    dim = int(dim or health.get("dim") or 768)
    if bodies is None:
        bodies, content_type, query = make_bodies(
            fmt, window=window, dim=dim, top_k=top_k, seed=seed, bank=bank
        )
        path = path + query
    requests = [_request_bytes(host, port, path, b, content_type or "application/json") for b in bodies]

    sched = np.arange(total, dtype=np.float64) / qps  # due times relative to t0
    sent_at = np.full(total, np.nan)
    done_at = np.full(total, np.nan)
    status = np.zeros(total, dtype=np.int32)  # 0: no answer
    kinds: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    next_i = 0
    clock = time.perf_counter  # uvloop's loop.time() ticks in whole milliseconds: too coarse
    t0 = clock() + 0.05
    hard_deadline = t0 + duration + timeout

    def fail(kind: str) -> None:
        kinds[kind] = kinds.get(kind, 0) + 1

    async def worker() -> None:
        nonlocal next_i
        reader = writer = None
        try:
            while True:
                i = next_i
                if i >= total:
                    return
                next_i += 1
                delay = t0 + sched[i] - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                if clock() >= hard_deadline:
                    fail("not_sent")
                    continue
                try:
                    if writer is None:
                        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
                    sent_at[i] = clock()
                    writer.write(requests[i % len(requests)])
                    remaining = min(timeout, hard_deadline - clock())
                    code, keep = await asyncio.wait_for(_read_response(reader), max(remaining, 1e-3))
                    done_at[i] = clock()
                    status[i] = code
                    if not 200 <= code < 300:
                        fail(f"http_{code}")
                    if not keep:
                        writer.close()
                        reader = writer = None
                except TimeoutError:
                    fail("timeout" if not np.isnan(sent_at[i]) else "connect")
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
                    fail("connect" if np.isnan(sent_at[i]) else "disconnected")
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    if np.isnan(sent_at[i]) and isinstance(exc, ConnectionRefusedError):
                        await asyncio.sleep(0.01)  # do not spin on a refused port
                except (_ProtocolError, ValueError, asyncio.LimitOverrunError):
                    fail("protocol")
                    if writer is not None:
                        writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()

    tasks = [loop.create_task(worker()) for _ in range(min(connections, total))]
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, hard_deadline + 1.0 - clock()))
    for task in pending:  # should not happen: every wait is bounded by the hard deadline
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    unanswered_in_flight = (
        int(np.sum(~np.isnan(sent_at) & np.isnan(done_at)))
        - kinds.get("timeout", 0)
        - kinds.get("disconnected", 0)
        - kinds.get("protocol", 0)
    )
    if unanswered_in_flight > 0:
        kinds["timeout"] = kinds.get("timeout", 0) + unanswered_in_flight
    never = total - int(np.sum(~np.isnan(sent_at))) - kinds.get("not_sent", 0) - kinds.get("connect", 0)
    if never > 0:
        kinds["not_sent"] = kinds.get("not_sent", 0) + never

    after = await _scrape(host, port, timeout)
    ok_mask = (status >= 200) & (status < 300)
    lat = (done_at[ok_mask] - (t0 + sched[ok_mask])) * 1e3
    svc = (done_at[ok_mask] - sent_at[ok_mask]) * 1e3
    refused = (status == 429) | (status == 503)
    refused_ms = (done_at[refused] - sent_at[refused]) * 1e3
    sent_mask = ~np.isnan(sent_at)
    lag = (sent_at[sent_mask] - (t0 + sched[sent_mask])) * 1e3
    last = np.nanmax(done_at) if np.any(~np.isnan(done_at)) else clock()
    elapsed = max(float(last - t0), 1e-9)
    span = max(float(sched[-1]), 1.0 / qps)
    sent = int(sent_mask.sum())
    completed = int((status > 0).sum())
    ok = int(ok_mask.sum())
    checks, batch_mean = _checks(before, after, sent, completed)
    return LoadTestResult(
        url=url,
        target_qps=float(qps),
        duration_s=float(duration),
        connections=int(connections),
        format=fmt,
        window=window,
        dim=dim,
        top_k=int(top_k),
        scheduled=total,
        sent=sent,
        completed=completed,
        ok=ok,
        error_count=int(sum(kinds.values())),
        errors=dict(sorted(kinds.items())),
        elapsed_s=elapsed,
        offered_qps=sent / span if total > 1 else float(sent),
        achieved_qps=ok / elapsed,
        latency_ms=_pct(lat),
        service_ms=_pct(svc),
        send_lag_ms=_pct(lag),
        refused_ms=_pct(refused_ms),
        server_batch_size_mean=batch_mean,
        checks=checks,
        environment=_environment(),
    )


def _checks(
    before: dict[str, Any], after: dict[str, Any], sent: int, completed: int
) -> tuple[dict[str, Any], float | None]:
    """Monitoring checks: /health ok, /metrics parses and its counters moved by what was sent, logs."""
    from lvmgate.deploy.metrics import sample_sum

    out: dict[str, Any] = {
        "health_ok": bool(
            after.get("health_status") == 200 and (after.get("health") or {}).get("status") == "ok"
        ),
        "metrics_parsed": "metrics" in before and "metrics" in after,
    }
    for key in ("health_error", "metrics_error"):
        if key in after:
            out[key] = after[key]
    batch_mean = None
    if out["metrics_parsed"]:
        m0, m1 = before["metrics"], after["metrics"]
        delta = sample_sum(m1, "lvmgate_requests_total", endpoint="/predict") - sample_sum(
            m0, "lvmgate_requests_total", endpoint="/predict"
        )
        out["server_predict_requests_delta"] = int(delta)
        # the server counts every request it answers; ones the client gave up on may or may not count
        out["server_counted_all_answered"] = bool(completed <= delta <= sent)
        if int((after.get("health") or {}).get("workers") or 1) > 1:  # each worker counts its own
            out["server_counted_all_answered"] = None
        n = sample_sum(m1, "lvmgate_batch_size_count") - sample_sum(m0, "lvmgate_batch_size_count")
        s = sample_sum(m1, "lvmgate_batch_size_sum") - sample_sum(m0, "lvmgate_batch_size_sum")
        batch_mean = float(s / n) if n > 0 else None
        out["server_batches"] = int(n)
        out["metrics_families"] = sorted({re.sub(r"_(bucket|sum|count)$", "", k) for k in m1})
        rss = sample_sum(m1, "process_resident_memory_bytes")
        out["server_rss_bytes"] = int(rss) if rss else None
    health = after.get("health") or {}
    logging = health.get("logging") or {}
    out["logs"] = logging
    out["logs_written"] = bool(logging.get("lines", 0) > 0)
    return out, batch_mean


def _environment() -> dict[str, Any]:
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    import importlib.util

    return {
        "cpu_count": os.cpu_count(),
        "loadavg_after": load,
        "client": "asyncio raw HTTP/1.1 keep-alive"
        + (" + uvloop" if importlib.util.find_spec("uvloop") else ""),
        "pid": os.getpid(),
    }


def run_loadtest(url: str, *, qps: float, duration: float, **kwargs: Any) -> LoadTestResult:
    """Run an open-loop load test against `url` (a running server) in a fresh event loop (uvloop if
    installed). Keyword arguments as `run_loadtest_async`."""
    coro = run_loadtest_async(url, qps=qps, duration=duration, **kwargs)
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)
