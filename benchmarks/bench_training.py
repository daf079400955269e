"""Training throughput of the LVM presets on this CPU, beside the machine's matmul FLOP/s, and the
selective scan against a naive per-step loop. Not a timed test: run it and read the numbers.

    .venv/bin/python benchmarks/bench_training.py [--presets tiny,small] [--threads 2] [--json out.json]

- matmul: float32 torch GEMM (n x n) FLOP/s measured in the same run: the ceiling on this machine;
- training: AdamW steps on random (batch, window, 768) contexts, sequences/s; model FLOP/s counted
  from the shapes (6 x matmul parameters x positions per sequence: forward 2, backward 4; the scan and
  other element-wise work are not counted) as a fraction of the GEMM number;
- scan: the model's two exact forms of `selective_scan` (the recurrent loop, one time step at a
  time, and the parallel Hillis-Steele scan, log2(l) steps over the whole sequence) against the common
  per-step Python loop that precomputes every Ā_t and B̄_t u_t, keeps every state and reads them out at
  the end (as mamba-minimal does), forward and forward+backward.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
import torch.nn.functional as F

from lvmgate.lvm.losses import cosine_loss
from lvmgate.lvm.mamba import LVM, PRESETS, LVMConfig, selective_scan


def gemm_flops(n: int = 2048, seconds: float = 2.0) -> float:
    """Float32 GEMM FLOP/s (best of repeated n x n products for about `seconds`)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def matmul_params_per_position(cfg: LVMConfig) -> int:
    """Weights multiplied once per context position (input projection and every block's projections)."""
    d, d_in, r, n = cfg.d_model, cfg.d_inner, cfg.rank, cfg.d_state
    block = d * 2 * d_in + d_in * (r + 2 * n) + r * d_in + d_in * d
    return (cfg.dim + cfg.tmd_dim) * d + cfg.n_layers * block


def train_flops_per_sequence(cfg: LVMConfig, window: int) -> float:
    """6 x (matmul weights x positions + head weights): forward 2 FLOPs per weight, backward 4."""
    return 6.0 * (matmul_params_per_position(cfg) * window + cfg.d_model * cfg.dim)


def train_throughput(name: str, batch: int, window: int, steps: int, checkpointing: bool = False) -> dict:
    cfg = PRESETS[name]
    torch.manual_seed(0)
    model = LVM(cfg)
    model.gradient_checkpointing = checkpointing
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ctx = F.normalize(torch.randn(batch, window, cfg.dim), dim=-1)
    tgt = F.normalize(torch.randn(batch, cfg.dim), dim=-1)

    def step() -> None:
        loss = cosine_loss(model(ctx), tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()  # warm-up (allocations, AdamW state)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - t) / steps
    return {
        "preset": name,
        "parameters": cfg.param_count(),
        "batch": batch,
        "window": window,
        "gradient_checkpointing": checkpointing,
        "seconds_per_step": seconds,
        "sequences_per_s": batch / seconds,
        "model_flops_per_sequence": train_flops_per_sequence(cfg, window),
        "model_flops_per_s": train_flops_per_sequence(cfg, window) * batch / seconds,
    }


def precomputed_loop_scan(u, delta, A, B, C, D):
    """The common reference loop (as in mamba-minimal): Ā and B̄u for every t at once, a Python loop
    over time collecting every state, then one read-out over all of them."""
    dA = torch.exp(delta.unsqueeze(-1) * A)  # (b, l, d_in, n)
    dBu = (delta * u).unsqueeze(-1) * B.unsqueeze(2)  # (b, l, d_in, n)
    h = torch.zeros_like(dBu[:, 0])
    hs = []
    for t in range(u.shape[1]):
        h = dA[:, t] * h + dBu[:, t]
        hs.append(h)
    return torch.einsum("bldn,bln->bld", torch.stack(hs, dim=1), C) + u * D


def time_scan(fn, shape: tuple[int, int, int, int], backward: bool, reps: int) -> float:
    b, length, d_in, n = shape
    g = torch.Generator().manual_seed(0)
    u = torch.randn(b, length, d_in, generator=g, requires_grad=backward)
    delta = F.softplus(torch.randn(b, length, d_in, generator=g)).requires_grad_(backward)
    A = -torch.rand(d_in, n, generator=g)
    B, C = torch.randn(b, length, n, generator=g), torch.randn(b, length, n, generator=g)
    D = torch.randn(d_in)

    def once() -> None:
        y = fn(u, delta, A, B, C, D)
        if backward:
            y.sum().backward()

    once()
    t = time.perf_counter()
    for _ in range(reps):
        once()
    return (time.perf_counter() - t) / reps


def scan_table(backward: bool) -> list[dict]:
    rows = []
    shapes = [
        ("tiny, plan context 5", (64, 5, 192, 8)),
        ("small, plan context 5", (32, 5, 1536, 16)),
        ("small, plan context 12", (32, 12, 1536, 16)),
        ("tiny, length 64", (16, 64, 192, 8)),
        ("tiny, length 128", (8, 128, 192, 8)),
        ("tiny, length 256", (4, 256, 192, 8)),
    ]
    for label, shape in shapes:
        reps = 3 if shape[2] > 1000 else 10
        row = {"case": label, "shape (b, l, d_in, n)": shape, "backward": backward}
        for name, fn in (
            ("recurrent", lambda *a: selective_scan(*a, parallel=False)),
            ("parallel", lambda *a: selective_scan(*a, parallel=True)),
            ("precomputed_loop", precomputed_loop_scan),
        ):
            row[f"{name}_ms"] = 1000 * time_scan(fn, shape, backward, reps)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = {
        "machine": {
            "python": platform.python_version(),
            "torch": str(torch.__version__),
            "threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
        },
        "gemm_flops_per_s": gemm_flops(),
    }
    print(f"torch {out['machine']['torch']}, {out['machine']['threads']} threads")
    print(f"float32 GEMM 2048^3: {out['gemm_flops_per_s'] / 1e9:.1f} GFLOP/s")
    runs = []
    for name in args.presets.split(","):
        batch, steps = (64, 20) if name == "tiny" else (32, 4)
        for ckpt in (False, True) if name != "tiny" else (False,):
            r = train_throughput(name, batch, args.window, steps, ckpt)
            r["fraction_of_gemm"] = r["model_flops_per_s"] / out["gemm_flops_per_s"]
            runs.append(r)
            print(
                f"train {name:<6} {r['parameters'] / 1e6:7.2f}M params, batch {batch} x {args.window}"
                f"{' +ckpt' if ckpt else '      '}: {r['sequences_per_s']:8.1f} seq/s, "
                f"{r['seconds_per_step'] * 1000:7.1f} ms/step, model {r['model_flops_per_s'] / 1e9:6.1f} GFLOP/s "
                f"= {100 * r['fraction_of_gemm']:.0f}% of GEMM"
            )
    out["training"] = runs
    out["scan"] = scan_table(False) + scan_table(True)
    for r in out["scan"]:
        print(
            f"scan {r['case']:<24} {'fwd+bwd' if r['backward'] else 'fwd    '}: recurrent {r['recurrent_ms']:8.2f} ms, "
            f"parallel {r['parallel_ms']:8.2f} ms, precomputed loop {r['precomputed_loop_ms']:8.2f} ms"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
