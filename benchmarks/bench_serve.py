"""Serving benchmark: the LVM (tiny and small presets) plus exact nearest-neighbour lookup in a 20k-chunk
bank, behind `lvmgate serve`, driven by `lvmgate loadtest` on the same machine (the load generator
shares the cores with the server), vector inputs (binary float32 bodies).

For each preset: export to ONNX (dynamo exporter, parity checked), serve the ONNX model, then
  1. sustain: `--sustain-qps` (1000) for `--sustain-seconds` (30), open loop, latency from schedule
  2. curve: p99 against offered QPS, one `--step-seconds` run per rate, up to saturation
  3. optional cross-checks: the PyTorch model instead of ONNX, JSON bodies, and `wrk` (closed loop,
     64 connections) when it is installed
Server and load-generator CPU time per request are measured from /proc and getrusage. The machine's
load average is recorded with every run: other work on the box inflates latency.

    python benchmarks/bench_serve.py [--presets tiny,small] [--out reports/bench/serve.json]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.deploy import export_onnx, run_loadtest, running_server
from lvmgate.io import write_json
from lvmgate.lvm.load import load_model
from lvmgate.stores import open_store
from lvmgate.synth import synthesize

CURVES = {
    "tiny": (250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2500, 3000),
    "small": (10, 20, 40, 60, 80, 100, 150, 200, 300),
}


def build_bank(folder: Path, rows: int, seed: int = 0) -> str:
    """An embedded store with exactly `rows` synthetic chunks (hashing-encoder vectors, 768-D)."""
    corpus = synthesize(max(1, rows // 19 + 10), seed=seed)
    n = min(rows, len(corpus.records))
    store = open_store(str(folder / "store"))
    store.ingest("bank", corpus.records[:n], corpus.vectors[:n], encoder=corpus.meta["encoder"])
    return store.url


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measured(srv, bank, **kw) -> dict[str, Any]:
    """One load test plus the CPU the server and this load generator spent per request."""
    load_before = os.getloadavg()
    s0, c0 = cpu_seconds(srv.process.pid), self_cpu()
    r = run_loadtest(srv.url, bank=bank, **kw)
    s1, c1 = cpu_seconds(srv.process.pid), self_cpu()
    out = r.to_dict()
    n = max(r.completed, 1)
    out["cpu_ms_per_request"] = {"server": (s1 - s0) * 1e3 / n, "load_generator": (c1 - c0) * 1e3 / n}
    out["environment"]["loadavg_before"] = [round(x, 2) for x in load_before]
    return out


def line(tag: str, r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    return (
        f"{tag:<28} offered {r['target_qps']:>6.0f}  achieved {r['achieved_qps']:>7.1f}  "
        f"p50 {lat['p50']:>7.1f}  p99 {lat['p99']:>8.1f}  max {lat['max']:>8.1f} ms  "
        f"errors {r['error_count']:>5} {r['errors'] or ''}  batch {r['server_batch_size_mean'] or 0:.1f}  "
        f"cpu/req server {r['cpu_ms_per_request']['server']:.2f} ms, loadgen "
        f"{r['cpu_ms_per_request']['load_generator']:.2f} ms  load {r['environment']['loadavg_before'][0]}"
    )


def saturated(r: dict[str, Any]) -> bool:
    return r["achieved_qps"] < 0.95 * r["target_qps"] or r["error_count"] > 0 or r["latency_ms"]["p99"] > 1000


WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
local f = io.open("{body}", "rb")
wrk.body = f:read("*all")
f:close()
"""


def run_wrk(
    url: str, body: bytes, folder: Path, seconds: int, connections: int = 64
) -> dict[str, Any] | None:
    """Closed-loop cross-check with Debian's wrk (1 thread, `connections` connections)."""
    exe = shutil.which("wrk")
    if exe is None:
        return None
    (folder / "body.bin").write_bytes(body)
    (folder / "post.lua").write_text(WRK_LUA.replace("{body}", str(folder / "body.bin")))
    cmd = [
        exe,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(folder / "post.lua"),
        url + "/predict?top_k=10",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    result: dict[str, Any] = {"connections": connections, "seconds": seconds, "raw": out}
    for ln in out.splitlines():
        parts = ln.split()
        if ln.startswith("Requests/sec:"):
            result["requests_per_s"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "75%", "90%", "99%"):
            result[f"p{parts[0][:-1]}_ms"] = _ms(parts[1])
        elif ln.strip().startswith("Non-2xx"):
            result["non_2xx"] = int(parts[-1])
        elif ln.strip().startswith("Socket errors"):
            result["socket_errors"] = ln.strip()
    return result


def _ms(text: str) -> float:
    for unit, scale in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float("nan")


def bench_preset(name: str, store_url: str, args, folder: Path) -> dict[str, Any]:
    loaded = load_model(f"preset:{name}", threads=1)
    onnx_path = folder / f"{name}.onnx"
    t = time.perf_counter()
    export = export_onnx(loaded.module, onnx_path, window=args.window, threads=1)
    print(
        f"[{name}] ONNX export {time.perf_counter() - t:.1f} s, max diff {export.max_abs_diff:.1e}, "
        f"torch {export.torch_ms_per_seq:.3f} ms/seq, onnxruntime {export.onnxruntime_ms_per_seq:.3f} ms/seq",
        flush=True,
    )
    bank = open_store(store_url).vectors("bank")
    out: dict[str, Any] = {
        "preset": name,
        "params": loaded.describe()["params"],
        "onnx": export.to_dict(),
        "runs": {},
        "curve": [],
    }
    common = [
        "--window",
        str(args.window),
        "--store",
        store_url,
        "--dataset",
        "bank",
        "--threads",
        "1",
        "--search",
        args.search,
        "--max-wait-ms",
        str(args.max_wait_ms),
    ]
    with running_server(["--lvm-model", str(onnx_path), *common], log_path=folder / f"{name}.log") as srv:
        out["server"] = srv.health()
        print(f"[{name}] search engine: {out['server']['search']['index']}", flush=True)
        run_loadtest(srv.url, qps=100, duration=2, bank=bank)  # warm-up
        sustain = measured(
            srv,
            bank,
            qps=args.sustain_qps,
            duration=args.sustain_seconds,
            connections=args.connections,
            timeout=args.timeout,
        )
        out["runs"]["sustain"] = sustain
        out["server_after_sustain"] = srv.health()  # search fallbacks, batches, log lines
        print(line(f"[{name}] sustain {args.sustain_seconds:g}s", sustain), flush=True)
        for qps in CURVES[name]:
            r = measured(
                srv,
                bank,
                qps=qps,
                duration=args.step_seconds,
                connections=args.connections,
                timeout=args.timeout,
            )
            out["curve"].append(r)
            print(line(f"[{name}] curve", r), flush=True)
            if saturated(r):
                break
            time.sleep(1)
        if args.json_check:
            r = measured(
                srv,
                bank,
                qps=min(args.sustain_qps, CURVES[name][len(out["curve"]) // 2]),
                duration=args.step_seconds,
                connections=args.connections,
                timeout=args.timeout,
                fmt="json",
            )
            out["runs"]["json_bodies"] = r
            print(line(f"[{name}] json bodies", r), flush=True)
        if args.wrk:
            body = np.asarray(bank[: args.window], dtype="<f4").tobytes()
            w = run_wrk(srv.url, body, folder, args.step_seconds)
            out["runs"]["wrk"] = w
            if w:
                print(
                    f"[{name}] wrk closed loop 64 conn: {w.get('requests_per_s')} req/s, p50 {w.get('p50_ms')} "
                    f"p99 {w.get('p99_ms')} ms, non-2xx {w.get('non_2xx', 0)}",
                    flush=True,
                )
    if args.torch_check:
        with running_server(
            ["--lvm-model", f"preset:{name}", *common], log_path=folder / f"{name}-torch.log"
        ) as srv:
            run_loadtest(srv.url, qps=100, duration=2, bank=bank)
            qps = args.sustain_qps if name == "tiny" else CURVES[name][2]
            r = measured(
                srv,
                bank,
                qps=qps,
                duration=args.step_seconds,
                connections=args.connections,
                timeout=args.timeout,
            )
            out["runs"]["torch_backend"] = r
            print(line(f"[{name}] torch backend", r), flush=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", default="tiny,small")
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--sustain-qps", type=float, default=1000)
    p.add_argument("--sustain-seconds", type=float, default=30)
    p.add_argument("--step-seconds", type=float, default=10)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--search", default="auto", choices=("auto", "numpy", "bf16"))
    p.add_argument("--max-wait-ms", type=float, default=1.0)
    p.add_argument("--no-wrk", dest="wrk", action="store_false")
    p.add_argument("--no-torch-check", dest="torch_check", action="store_false")
    p.add_argument("--no-json-check", dest="json_check", action="store_false")
    p.add_argument("--out", default="reports/bench/serve.json")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="lvmgate-bench-serve-") as tmp:
        folder = Path(tmp)
        store_url = build_bank(folder, args.rows)
        info = open_store(store_url).info("bank")
        print(
            f"bank: {info.n_rows:,} chunks x {info.dim}; cpus {os.cpu_count()}, load {os.getloadavg()}",
            flush=True,
        )
        results = {
            "bank_rows": info.n_rows,
            "window": args.window,
            "args": vars(args),
            "python": sys.version.split()[0],
            "presets": [bench_preset(name, store_url, args, folder) for name in args.presets.split(",")],
        }
    write_json(args.out, results)
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
