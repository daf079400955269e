"""The HTTP API (Starlette on uvicorn): `POST /predict`, `GET /health`, `GET /metrics`.

`/predict` takes one context (w x D vectors, or w texts when the dataset declares its encoder) or
a small batch of contexts, and answers the predicted next vector(s) with the top-k neighbour
chunks of the whole bank (row, cosine score, text). Concurrent requests are micro-batched
(lvmgate.deploy.predictor.MicroBatcher); the queue is bounded in contexts, so overload answers 429
at once and memory stays bounded; uvicorn's connection limit answers 503 beyond that.

Request formats (docs/deploy.md has examples):
- `application/json`: {"context": [[...D floats] x w]} | {"contexts": [n x w x D]} | {"texts": [w strings]},
  optional "top_k" (default 10) and "include_vector" (default true)
- `application/octet-stream`: raw little-endian float32, n*w*D values; query ?n=1&top_k=10&include_vector=1
Response: {"model", "predictions": [{"vector": [D floats], "neighbors": [{"row", "score", "text"}]}],
"batch_size", "compute_ms"}. Errors: {"error": {"status", "code", "message"}} with 400 (bad JSON or
shape), 413 (too large), 415 (content type), 422 (wrong dimension, NaN, window, top_k), 429 (queue
full), 503 (queue timeout, encoder unavailable), 500 (model failure).
Logs: one JSON line per batch and per failed request (429s are summed into one line per second);
`access_log` adds one line per request.

Long on purpose: one HTTP server (app, micro-batching engine, metrics, logs, lifecycle); the
routes share the engine and the metrics registry.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from lvmgate.deploy.metrics import Counter, Gauge, Histogram, Registry
from lvmgate.deploy.predictor import (
    BatchStats,
    Engine,
    MicroBatcher,
    Prediction,
    QueueFull,
    QueueTimeout,
    build_search,
)
from lvmgate.deploy.requests import ApiError, RequestParser
from lvmgate.errors import InputError
from lvmgate.lvm.predictor import limit_threads
from lvmgate.results import Result

CONFIG_ENV = "LVMGATE_SERVE_CONFIG"  # JSON ServeConfig for uvicorn worker processes
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

try:  # orjson is 5-10x faster for the (D,) vectors in every response; the json fallback works too
    import orjson

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)

    _loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is in the serving extra

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, default=lambda o: o.tolist()).encode()

    def _loads(data: bytes) -> Any:
        def bad(name: str) -> None:
            raise ValueError(f"{name} is not a JSON number")

        return json.loads(data, parse_constant=bad)


@dataclass(frozen=True)
class ServeConfig(Result):
    """Everything `lvmgate serve` was asked for; passed to uvicorn workers as JSON."""

    lvm_model: str
    dataset: str
    store: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_batch: int = 64  # contexts per model call
    max_wait_ms: float = 1.0  # how long a batch waits for more requests once the worker is free
    max_queue: int = 1024  # contexts waiting; beyond this: 429
    timeout_s: float = 10.0  # a request still queued after this: 503
    window: int | None = None  # required context length; None: the model's own, else any up to max_context
    max_context: int = 64  # longest context accepted (vectors)
    max_request_batch: int = 32  # contexts in one request
    top_k: int = 10
    max_top_k: int = 100
    search: str = "auto"  # auto | numpy | bf16: exact whole-bank search engines
    threads: int = 1  # torch / onnxruntime / BLAS threads for the batch worker
    max_connections: int = 2048  # uvicorn limit_concurrency: beyond it, 503
    log_file: str | None = None  # JSON log lines; None: stderr
    access_log: bool = False
    preload_texts: int = 2_000_000  # keep the bank's texts in memory up to this many rows

    def __post_init__(self) -> None:
        for name in (
            "max_batch",
            "max_queue",
            "max_context",
            "max_request_batch",
            "top_k",
            "max_top_k",
            "workers",
        ):
            if int(getattr(self, name)) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_request_batch > self.max_batch:
            raise InputError("--max-request-batch cannot exceed --max-batch")
        if self.top_k > self.max_top_k:
            raise InputError("--top-k cannot exceed --max-top-k")
        if self.window is not None and not 1 <= self.window <= self.max_context:
            raise InputError(f"--window must be in 1..{self.max_context}")


# -- the model + bank behind the API ------------------------------------------------------------------
@dataclass
class Backend:
    """The loaded model, the bank's index and texts, and what /health says about them."""

    engine: Engine
    model: dict[str, Any]
    dataset: str
    store: str
    bank_rows: int
    dim: int
    window: int | None
    encoder: str | None
    search: dict[str, Any] = field(default_factory=dict)
    _encoder_obj: Any = None

    def encode(self, texts: list[str]) -> np.ndarray:
        """(w, D) vectors of context texts with the dataset's declared encoder (loaded on first use)."""
        if self.encoder is None:
            raise ApiError(422, "no_encoder", f"dataset {self.dataset!r} declares no encoder: send vectors")
        if self._encoder_obj is None:
            from lvmgate.encoders import get_encoder

            try:
                self._encoder_obj = get_encoder(self.encoder)
            except Exception as exc:  # missing weights or package: say so, keep serving vectors
                raise ApiError(503, "encoder_unavailable", f"encoder {self.encoder!r}: {exc}") from None
        vecs = np.asarray(self._encoder_obj.encode(texts), dtype=np.float32)
        if vecs.shape != (len(texts), self.dim):
            raise ApiError(
                503, "encoder_mismatch", f"encoder gave {vecs.shape}, bank dimension is {self.dim}"
            )
        return vecs


def build_backend(cfg: ServeConfig) -> Backend:
    """Load the model, open the store, build the whole-bank index and the text lookup."""
    from lvmgate.lvm.load import load_model
    from lvmgate.stores import open_store

    limit_threads(cfg.threads)
    store = open_store(cfg.store)
    info = store.require(cfg.dataset)
    if info.dim is None:
        raise InputError(f"dataset {cfg.dataset!r} has no vectors to search")
    loaded = load_model(cfg.lvm_model, window=cfg.window, dim=info.dim, threads=cfg.threads)
    if loaded.dim != info.dim:
        raise InputError(f"model predicts {loaded.dim}-D vectors, dataset {cfg.dataset!r} holds {info.dim}-D")
    bank = store.vectors(cfg.dataset)  # (N, D), memory-mapped for the embedded store
    index = build_search(bank, cfg.search)
    if info.n_rows <= cfg.preload_texts:
        all_texts = store.texts(cfg.dataset, np.arange(info.n_rows))

        def texts(rows: np.ndarray) -> list[str]:
            return [all_texts[int(r)] for r in rows]
    else:

        def texts(rows: np.ndarray) -> list[str]:
            return store.texts(cfg.dataset, rows)

    window = loaded.window or cfg.window
    engine = Engine(loaded.predictor, index, texts, dim=info.dim)
    search = {"requested": cfg.search}
    engine.predict([np.zeros((1, window or 1, info.dim), np.float32) + 1e-3])  # warm up / fail early
    return Backend(
        engine, loaded.describe(), cfg.dataset, store.url, info.n_rows, info.dim, window, info.encoder, search
    )


# -- logging and metrics -----------------------------------------------------------------------------
class JsonLog:
    """One JSON object per line; counts its lines (exported as a metric)."""

    def __init__(self, stream: IO[str], counter: Counter | None = None):
        self.stream = stream
        self.counter = counter
        self.destination = getattr(stream, "name", "stream")

    def __call__(self, event: str, **fields: Any) -> None:
        line = {"ts": round(time.time(), 6), "event": event, "pid": os.getpid(), **fields}
        self.stream.write(_dumps(line).decode() + "\n")
        self.stream.flush()
        if self.counter is not None:
            self.counter.inc()


class Metrics:
    """The server's Prometheus metrics."""

    def __init__(self, queue_depth, inflight, fallbacks) -> None:
        r = self.registry = Registry()
        self.requests = r.add(
            Counter("lvmgate_requests_total", "HTTP requests by endpoint and status", ("endpoint", "status"))
        )
        self.latency = r.add(
            Histogram(
                "lvmgate_request_duration_seconds", "/predict latency inside the server", LATENCY_BUCKETS
            )
        )
        self.refusal = r.add(
            Histogram(
                "lvmgate_refusal_duration_seconds",
                "/predict time to answer 429/503 inside the server (overload must be refused fast)",
                LATENCY_BUCKETS,
            )
        )
        r.add(Gauge("lvmgate_queue_depth", "contexts waiting for a batch", queue_depth))
        r.add(Gauge("lvmgate_inflight_requests", "/predict requests being handled", inflight))
        self.batch_size = r.add(
            Histogram("lvmgate_batch_size", "contexts per model batch", (1, 2, 4, 8, 16, 32, 64, 128, 256))
        )
        self.batch_seconds = r.add(
            Histogram("lvmgate_batch_compute_seconds", "predict + search + texts per batch", LATENCY_BUCKETS)
        )
        self.rejected = r.add(Counter("lvmgate_rejected_total", "requests refused, by reason", ("reason",)))
        self.log_lines = r.add(Counter("lvmgate_log_lines_total", "structured log lines written"))
        r.add(Gauge("process_resident_memory_bytes", "resident set size", rss_bytes))
        r.add(
            Gauge(
                "lvmgate_search_fallbacks", "queries the bf16 certificate sent to float32 search", fallbacks
            )
        )
        started = time.time()
        r.add(Gauge("process_start_time_seconds", "start time (unix seconds)", lambda: started))


def rss_bytes() -> float:
    """Resident memory of this process, from /proc (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return float(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        return 0.0


# -- the ASGI app ------------------------------------------------------------------------------------
def create_app(backend: Backend, cfg: ServeConfig, log_stream: IO[str] | None = None):
    """The Starlette app serving `backend` with `cfg`'s limits."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    engine, dim = backend.engine, backend.dim
    state = {"inflight": 0, "overload": 0, "overload_t": time.monotonic(), "started": time.time()}
    batcher: MicroBatcher
    metrics = Metrics(
        lambda: batcher.depth, lambda: state["inflight"], lambda: getattr(engine.index, "fallbacks", 0)
    )
    stream = log_stream or (open(cfg.log_file, "a", encoding="utf-8") if cfg.log_file else sys.stderr)
    log = JsonLog(stream, metrics.log_lines)
    parser = RequestParser(cfg, dim, backend.window, backend.encode, _loads)

    def compute(payloads: list[tuple[np.ndarray, int]]) -> list[tuple[Prediction, int, float]]:
        t = time.perf_counter()
        preds = engine.run([p[0] for p in payloads], [p[1] for p in payloads])
        ms = (time.perf_counter() - t) * 1e3
        n = sum(p[0].shape[0] for p in payloads)
        return [(p, n, ms) for p in preds]

    def on_batch(s: BatchStats) -> None:
        metrics.batch_size.observe(s.size)
        metrics.batch_seconds.observe(s.compute_s)
        if s.expired:
            metrics.rejected.inc("timeout", amount=s.expired)
        fields = {
            "size": s.size,
            "requests": s.requests,
            "queue_wait_max_ms": round(s.queue_wait_max_s * 1e3, 3),
            "compute_ms": round(s.compute_s * 1e3, 3),
            "queue_depth": s.queue_depth,
        }
        if s.expired:
            fields["expired"] = s.expired
        if s.error:
            fields["error"] = s.error
        log("batch", **fields)

    batcher = MicroBatcher(
        compute,
        max_batch=cfg.max_batch,
        max_wait_s=cfg.max_wait_ms / 1e3,
        max_queue=cfg.max_queue,
        timeout_s=cfg.timeout_s,
        on_batch=on_batch,
    )

    def error_response(err: ApiError) -> Response:
        body = {"error": {"status": err.status, "code": err.code, "message": err.message}}
        headers = {"Retry-After": "1"} if err.status in (429, 503) else None
        return Response(_dumps(body), err.status, headers=headers, media_type="application/json")

    def note_overload() -> None:
        state["overload"] += 1
        now = time.monotonic()
        if now - state["overload_t"] >= 1.0:
            log(
                "overload",
                rejected=state["overload"],
                seconds=round(now - state["overload_t"], 3),
                queue_depth=batcher.depth,
            )
            state["overload"], state["overload_t"] = 0, now

    async def predict(request: Request) -> Response:
        t0 = time.perf_counter()
        state["inflight"] += 1
        status = 500
        try:
            try:
                contexts, top_k, include = await parser.parse(request)
                try:
                    pred, batch_size, compute_ms = await batcher.submit((contexts, top_k), contexts.shape[0])
                except QueueFull as exc:
                    raise ApiError(429, "queue_full", str(exc)) from None
                except QueueTimeout as exc:
                    raise ApiError(503, "queue_timeout", str(exc)) from None
                except Exception as exc:
                    raise ApiError(500, "model_error", f"{type(exc).__name__}: {exc}") from None
            except ApiError as err:
                status = err.status
                if status == 429:
                    metrics.rejected.inc("queue_full")
                    note_overload()
                else:
                    if status != 503:
                        metrics.rejected.inc("invalid" if status < 500 else "error")
                    log("request_error", status=status, code=err.code, message=err.message)
                return error_response(err)
            out = []
            for i in range(len(pred.vectors)):
                item: dict[str, Any] = {
                    "neighbors": [
                        {"row": int(r), "score": float(s), "text": t}
                        for r, s, t in zip(pred.rows[i].tolist(), pred.scores[i].tolist(), pred.texts[i])
                        if r >= 0
                    ]
                }
                if include:
                    item["vector"] = pred.vectors[i]
                out.append(item)
            body = {
                "model": backend.model["name"],
                "predictions": out,
                "batch_size": batch_size,
                "compute_ms": round(compute_ms, 3),
            }
            status = 200
            return Response(_dumps(body), 200, media_type="application/json")
        finally:
            state["inflight"] -= 1
            elapsed = time.perf_counter() - t0
            metrics.requests.inc("/predict", str(status))
            metrics.latency.observe(elapsed)
            if status in (429, 503):
                metrics.refusal.observe(elapsed)
            if cfg.access_log:
                log("request", path="/predict", status=status, ms=round(elapsed * 1e3, 3))

    async def health(request: Request) -> Response:
        alive = batcher._task is not None and not batcher._task.done()
        body = {
            "status": "ok" if alive else "error",
            "model": backend.model,
            "dataset": backend.dataset,
            "store": backend.store,
            "bank_rows": backend.bank_rows,
            "dim": backend.dim,
            "window": backend.window,
            "encoder": backend.encoder,
            "search": {**backend.search, **engine.index.params()},
            "limits": {
                "max_batch": cfg.max_batch,
                "max_wait_ms": cfg.max_wait_ms,
                "max_queue": cfg.max_queue,
                "max_context": cfg.max_context,
                "max_request_batch": cfg.max_request_batch,
                "max_top_k": cfg.max_top_k,
                "timeout_s": cfg.timeout_s,
            },
            "queue_depth": batcher.depth,
            "batches": batcher.batches,
            "logging": {
                "format": "json-lines",
                "destination": log.destination,
                "lines": int(metrics.log_lines.get()),
            },
            "pid": os.getpid(),
            "workers": cfg.workers,  # with more than one, /metrics and this page describe one worker
            "uptime_s": round(time.time() - state["started"], 3),
        }
        metrics.requests.inc("/health", "200" if alive else "503")
        return Response(_dumps(body), 200 if alive else 503, media_type="application/json")

    async def metrics_endpoint(request: Request) -> Response:
        metrics.requests.inc("/metrics", "200")
        return Response(metrics.registry.render(), 200, media_type=metrics.registry.content_type)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        gc.collect()
        gc.freeze()  # the model, bank and imports are long-lived: keep them out of every GC pass
        batcher.start()
        log(
            "start",
            model=backend.model["name"],
            dataset=backend.dataset,
            bank_rows=backend.bank_rows,
            config=cfg.to_dict(),
        )
        yield
        await batcher.stop()
        log("stop", batches=batcher.batches)

    routes = [
        Route("/predict", predict, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def app_from_env():
    """uvicorn factory for worker processes: the config comes from $LVMGATE_SERVE_CONFIG."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise RuntimeError(f"{CONFIG_ENV} is not set (start the server with `lvmgate serve`)")
    cfg = ServeConfig(**json.loads(raw))
    return create_app(build_backend(cfg), cfg)


def _uvicorn_options(cfg: ServeConfig) -> dict[str, Any]:
    import importlib.util

    has = importlib.util.find_spec
    return {
        "host": cfg.host,
        "port": cfg.port,
        "loop": "uvloop" if has("uvloop") else "asyncio",
        "http": "httptools" if has("httptools") else "h11",
        "log_level": "warning",
        "access_log": False,
        "limit_concurrency": cfg.max_connections,
        "backlog": 4096,
        "timeout_keep_alive": 30,
    }


def serve(cfg: ServeConfig) -> None:
    """Run the server until interrupted; the model and bank load before the port opens."""
    try:
        import uvicorn
    except ImportError:
        raise InputError(
            "lvmgate serve needs starlette and uvicorn: pip install 'lvmgate[serving]'"
        ) from None
    options = _uvicorn_options(cfg)
    if cfg.workers > 1:
        build_backend(cfg)  # fail fast, with one clear error, before forking workers
        os.environ[CONFIG_ENV] = cfg.to_json(indent=None)
        uvicorn.run("lvmgate.deploy.server:app_from_env", factory=True, workers=cfg.workers, **options)
        return
    app = create_app(build_backend(cfg), cfg)
    uvicorn.run(app, **options)


# -- a server in a subprocess (tests, benchmarks, gates) -------------------------------------------------
@dataclass
class RunningServer:
    url: str
    port: int
    process: subprocess.Popen
    log_path: str | None

    def health(self, timeout: float = 5.0) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/health", timeout=timeout) as resp:
            return json.loads(resp.read())

    def rss_bytes(self) -> int:
        """Resident memory of the server process (Linux /proc)."""
        with open(f"/proc/{self.process.pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(
    serve_args: list[str],
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    log_path: str | os.PathLike | None = None,
    startup_timeout: float = 60.0,
    env: dict[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Start `python -m lvmgate serve ARGS --host --port` in a subprocess, wait until /health answers,
    yield it, and stop it (SIGTERM, then SIGKILL) on exit. Its stderr goes to `log_path`."""
    port = port or free_port(host)
    cmd = [sys.executable, "-m", "lvmgate", "serve", *serve_args, "--host", host, "--port", str(port)]
    out: IO[bytes] | int = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=out, env={**os.environ, **(env or {})})
    server = RunningServer(f"http://{host}:{port}", port, proc, str(log_path) if log_path else None)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                tail = _tail(log_path)
                raise RuntimeError(
                    f"server exited with code {proc.returncode} before answering /health{tail}"
                )
            try:
                if server.health(timeout=1.0).get("status") == "ok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"server did not answer /health within {startup_timeout:g} s{_tail(log_path)}"
                )
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not isinstance(out, int):
            out.close()


def _tail(path: str | os.PathLike | None, n: int = 2000) -> str:
    if not path or not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return ":\n" + fh.read()[-n:]


__all__ = [
    "Backend",
    "JsonLog",
    "Metrics",
    "RunningServer",
    "ServeConfig",
    "app_from_env",
    "build_backend",
    "create_app",
    "free_port",
    "running_server",
    "serve",
]
