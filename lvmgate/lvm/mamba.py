"""The Latent Vector Model: Mamba (selective state-space) blocks in pure PyTorch, vector in, vector out.

Written from the Mamba paper (Gu & Dao 2023, "Linear-Time Sequence Modeling with Selective State
Spaces", Algorithm 2 and section 3). No tokens: the input is a window of chunk embeddings and the
output is one unit vector, the predicted next chunk.

Glossary (shapes in comments use these letters):
    b       batch size
    l       sequence length (the context window w)
    dim     chunk-embedding size (768 for GTR-T5)
    tmd     optional TMD code features per position (16), 0 when unused
    d       d_model, the width of the residual stream
    d_in    d_inner = expand * d_model, the width inside a block
    n       d_state, the SSM state size per channel
    r       dt_rank, the rank of the delta projection (ceil(d_model / 16) as in the paper)
    k       d_conv, the width of the causal depthwise convolution
    Δ       delta, the input-dependent step size (b, l, d_in), softplus-positive
    A       (d_in, n) state matrix, diagonal per channel, A = -exp(A_log) < 0
    B, C    (b, l, n) input-dependent input and output projections of the state
    D       (d_in,) skip connection from the SSM input to its output

Head ("residual", the default): the model predicts a correction to a free baseline it starts from,
            next = normalise(start(context) + head(h_l)),   start = sum_t softmax(ρ·(t - l + 1)) x_t
with ρ (`recency`) a learned scalar starting at 0 (the context mean; ρ -> +inf is copy-last) and the
head initialised to zero, so an untrained model is exactly the context mean and training can only
trade that for something better. The real project's LVMs lost to the context mean; this one starts
there. Head "plain" (next = normalise(head(h_l)), random start) is kept for comparison.
    ρ       recency, the scalar that mixes the context from mean (0) to last (large)

One block:  x -> RMSNorm -> [in_proj -> (u, z)] ; u -> causal conv -> SiLU -> selective SSM ;
            y = SSM(u) * SiLU(z) -> out_proj -> + x           (residual + RMSNorm, pre-norm)
The SSM, per channel and state index, is the recurrence   h_t = Ā_t h_{t-1} + B̄_t u_t ,  y_t = C_t h_t + D u_t
with zero-order-hold discretisation Ā = exp(Δ A) and the paper's simplification B̄ = Δ B.
`selective_scan` evaluates it for all t: the recurrent loop over time for short contexts (the 5-12
chunks of the plan), a parallel Hillis-Steele scan in log2(l) steps for long ones.

Parameter names match mamba-ssm's `Mamba` block one to one (`in_proj`, `conv1d`, `x_proj`,
`dt_proj`, `A_log`, `D`, `out_proj`), so when mamba-ssm imports and the model is on CUDA,
`LVM.prefer_fused()` swaps each mixer for the fused kernel block loaded with the same state dict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lvmgate.errors import InputError
from lvmgate.results import Result

HEADS = ("residual", "plain")


# -- configuration ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LVMConfig(Result):
    """Everything that fixes the model's shapes (saved in every checkpoint)."""

    d_model: int = 768
    n_layers: int = 12
    dim: int = 768  # chunk-embedding size in and out
    tmd_dim: int = 0  # 16 to feed a TMD code vector with every context position
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int = 0  # 0: ceil(d_model / 16)
    norm_eps: float = 1e-5
    head: str = "residual"  # residual: start at the context mean and learn a correction | plain
    dropout: float = 0.0  # on the input projection and each block's output (training only)

    def __post_init__(self) -> None:
        for name in ("d_model", "n_layers", "dim", "d_state", "d_conv", "expand"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"model {name} must be a positive integer, got {value!r}")
        if self.tmd_dim < 0 or self.dt_rank < 0:
            raise InputError("tmd_dim and dt_rank must be >= 0")
        if self.head not in HEADS:
            raise InputError(f"model head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout!r}")

    @classmethod
    def saved(cls, config: dict) -> LVMConfig:
        """The config of a checkpoint; those written before the residual head have a plain one."""
        return cls(**{"head": "plain", **config})

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def rank(self) -> int:
        return self.dt_rank or math.ceil(self.d_model / 16)

    def block_params(self) -> int:
        """Parameters of one residual block, in closed form (mixer + its RMSNorm)."""
        d, d_in, n, r, k = self.d_model, self.d_inner, self.d_state, self.rank, self.d_conv
        return (
            d * 2 * d_in  # in_proj (no bias)
            + d_in * k
            + d_in  # conv1d depthwise weight + bias
            + d_in * (r + 2 * n)  # x_proj -> (Δ, B, C)
            + r * d_in
            + d_in  # dt_proj weight + bias
            + d_in * n  # A_log
            + d_in  # D
            + d_in * d  # out_proj (no bias)
            + d  # RMSNorm weight
        )

    def param_count(self) -> int:
        """Total parameters, in closed form: input projection, blocks, final norm, head."""
        d = self.d_model
        return (
            (self.dim + self.tmd_dim) * d
            + d
            + self.n_layers * self.block_params()
            + d
            + d * self.dim
            + self.dim
            + (self.head == "residual")  # ρ
        )


# Presets named like the plan. The plan labels small "130M" and large "760M" but passes
# --d-model 768 --n-layers 12 / 24 with them; those flags decide the shapes here, and
# `param_count()` reports what they really give (docs/training.md lists the numbers).
PRESETS: dict[str, LVMConfig] = {
    "tiny": LVMConfig(d_model=96, n_layers=2, d_state=8),  # CI and the synthetic gate tests
    "small": LVMConfig(d_model=768, n_layers=12),  # plan 2.2
    "medium": LVMConfig(d_model=768, n_layers=18),  # plan 3.1 "medium", between small and large
    "large": LVMConfig(d_model=768, n_layers=24),  # plan 4.2 (with gradient checkpointing)
}
PLAN_LABELS = {"tiny": "CI only", "small": "130M", "medium": "350M", "large": "760M"}


def preset(name: str, **overrides: int | float | str | None) -> LVMConfig:
    """The named preset with explicit flags (d_model, n_layers, dim, tmd_dim, ...) applied on top."""
    if name not in PRESETS:
        raise InputError(f"unknown model size {name!r} (known: {', '.join(PRESETS)})")
    base = PRESETS[name].to_dict()
    base.update({k: v for k, v in overrides.items() if v is not None})
    return LVMConfig(**base)


# -- the selective scan ----------------------------------------------------------------------------
PARALLEL_SCAN_MIN_LENGTH = 256  # shorter: the recurrent loop is as fast or faster on CPU (bench_training.py)


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
    *,
    parallel: bool | None = None,
) -> torch.Tensor:
    """y_t = C_t h_t + D u_t with h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t, h_0 = 0, for every t.

    u, delta: (b, l, d_in); A: (d_in, n); B, C: (b, l, n); D: (d_in,). Returns y: (b, l, d_in).
    `parallel` picks the Hillis-Steele scan (log2(l) steps over the whole sequence) or the recurrent
    loop (l steps, each over a whole (b, d_in, n) state); None picks by length.
    """
    if parallel is None:
        parallel = u.shape[1] >= PARALLEL_SCAN_MIN_LENGTH
    if not parallel:
        return recurrent_scan(u, delta, A, B, C, D)
    dA = torch.exp(delta.unsqueeze(-1) * A)  # (b, l, d_in, n)  Ā_t, zero-order hold
    dBu = (delta * u).unsqueeze(-1) * B.unsqueeze(2)  # (b, l, d_in, n)  B̄_t u_t = Δ_t B_t u_t
    h = parallel_recurrence(dA, dBu)  # (b, l, d_in, n)  h_t for every t
    y = torch.einsum("bldn,bln->bld", h, C)  # (b, l, d_in)  C_t h_t
    return y + u * D


def recurrent_scan(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: torch.Tensor
) -> torch.Tensor:
    """The same, one time step at a time (the paper's recurrent mode): discretise, update h, read
    out y_t. It never holds all l states, which keeps it the fastest form for short contexts."""
    h = u.new_zeros(u.shape[0], u.shape[2], A.shape[1])  # (b, d_in, n)
    ys = []
    for t in range(u.shape[1]):
        dA = torch.exp(delta[:, t, :, None] * A)  # (b, d_in, n)  Ā_t
        dBu = (delta[:, t] * u[:, t])[:, :, None] * B[:, t, None, :]  # (b, d_in, n)  B̄_t u_t
        h = dA * h + dBu
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, t]))  # (b, d_in)  C_t h_t
    return torch.stack(ys, dim=1) + u * D  # (b, l, d_in)


def parallel_recurrence(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + x_t along dim 1 (h_0 = 0), by a Hillis-Steele scan: log2(l) steps.

    After the step with offset s, position t holds the composition of the (up to) 2s maps ending at
    t; applying (a1, x1) then (a2, x2) gives (a2 a1, a2 x1 + x2). The first s positions are final.
    """
    length, offset = a.shape[1], 1
    while offset < length:
        x = torch.cat([x[:, :offset], a[:, offset:] * x[:, :-offset] + x[:, offset:]], dim=1)
        a = torch.cat([a[:, :offset], a[:, offset:] * a[:, :-offset]], dim=1)
        offset *= 2
    return x


def causal_depthwise_conv(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """out_t = bias + sum_j weight[:, 0, j] * u_{t-k+1+j} per channel (zeros before the start).

    u: (b, l, d_in); weight: (d_in, 1, k) as nn.Conv1d stores it; bias: (d_in,). A sum of k shifted
    copies: the same numbers as Conv1d(padding=k-1) cut to l, several times faster on CPU for short l.
    """
    length, k = u.shape[1], weight.shape[-1]
    padded = F.pad(u, (0, 0, k - 1, 0))  # (b, l + k - 1, d_in)
    w = weight[:, 0, :]  # (d_in, k)
    out = bias + padded[:, :length] * w[:, 0]
    for j in range(1, k):
        out = out + padded[:, j : j + length] * w[:, j]
    return out  # (b, l, d_in)


# -- layers ----------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """x / rms(x) * weight (no mean subtraction, no bias)."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MambaMixer(nn.Module):
    """The Mamba block of the paper (Figure 3): gated, with a causal conv and the selective SSM."""

    def __init__(self, cfg: LVMConfig):
        super().__init__()
        d, d_in, n, r, k = cfg.d_model, cfg.d_inner, cfg.d_state, cfg.rank, cfg.d_conv
        self.d_inner, self.d_state, self.dt_rank = d_in, n, r
        self.in_proj = nn.Linear(d, 2 * d_in, bias=False)
        self.conv1d = nn.Conv1d(d_in, d_in, kernel_size=k, groups=d_in, padding=k - 1, bias=True)
        self.x_proj = nn.Linear(d_in, r + 2 * n, bias=False)
        self.dt_proj = nn.Linear(r, d_in, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(d_in, 1))
        self.D = nn.Parameter(torch.ones(d_in))
        self.out_proj = nn.Linear(d_in, d, bias=False)
        self._init_delta(r)

    def _init_delta(self, r: int, dt_min: float = 1e-3, dt_max: float = 0.1) -> None:
        """Δ starts log-uniform in [dt_min, dt_max] (the paper's initialisation)."""
        with torch.no_grad():
            nn.init.uniform_(self.dt_proj.weight, -(r**-0.5), r**-0.5)
            dt = torch.exp(
                torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
            )
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (b, l, d) -> (b, l, d)."""
        u, z = self.in_proj(x).chunk(2, dim=-1)  # (b, l, d_in) each
        u = F.silu(causal_depthwise_conv(u, self.conv1d.weight, self.conv1d.bias))  # (b, l, d_in)
        dt, B, C = self.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))  # (b, l, d_in)  input-dependent step size
        A = -torch.exp(self.A_log.float())  # (d_in, n)
        y = selective_scan(u, delta, A, B, C, self.D)  # (b, l, d_in)
        return self.out_proj(y * F.silu(z))  # (b, l, d)


class ResidualBlock(nn.Module):
    """x + mixer(norm(x)): pre-norm residual, as in mamba-ssm's `Block`."""

    def __init__(self, cfg: LVMConfig):
        super().__init__()
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mixer: nn.Module = MambaMixer(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.mixer(self.norm(x)))


class LVM(nn.Module):
    """Context (b, l, dim) [+ TMD (b, l, tmd)] -> predicted next chunk (b, dim), unit length."""

    def __init__(self, cfg: LVMConfig):
        super().__init__()
        self.cfg = cfg
        self.in_proj = nn.Linear(cfg.dim + cfg.tmd_dim, cfg.d_model)
        self.layers = nn.ModuleList(ResidualBlock(cfg) for _ in range(cfg.n_layers))
        self.norm_f = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.head = nn.Linear(cfg.d_model, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.head == "residual":
            self.recency = nn.Parameter(torch.zeros(()))  # ρ: 0 = context mean
            nn.init.zeros_(self.head.weight)  # step 0: no correction
            nn.init.zeros_(self.head.bias)
        self.gradient_checkpointing = False

    def start(self, vectors: torch.Tensor) -> torch.Tensor:
        """The residual head's baseline: the context (b, l, dim) mixed by recency, (b, dim)."""
        lag = torch.arange(vectors.shape[1], device=vectors.device, dtype=torch.float32)
        weights = torch.softmax(self.recency * (lag - lag[-1]), dim=0)  # (l,), uniform at ρ = 0
        return torch.einsum("l,bld->bd", weights, vectors.float())

    def forward(self, context: torch.Tensor, tmd: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.cfg
        if context.ndim != 3 or context.shape[-1] != cfg.dim:
            raise InputError(f"context must be (batch, window, {cfg.dim}), got {tuple(context.shape)}")
        if cfg.tmd_dim:
            if tmd is None or tmd.shape != (*context.shape[:2], cfg.tmd_dim):
                raise InputError(f"this model needs TMD codes of shape (batch, window, {cfg.tmd_dim})")
            context = torch.cat([context, tmd.to(context.dtype)], dim=-1)  # (b, l, dim + tmd)
        elif tmd is not None:
            raise InputError("this model was built without TMD input (tmd_dim 0)")
        vectors = context[..., : cfg.dim]  # (b, l, dim)
        x = self.drop(self.in_proj(context))  # (b, l, d)
        for layer in self.layers:
            if self.gradient_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        last = self.norm_f(x[:, -1])  # (b, d)  the state after the whole context
        delta = self.head(last).float()  # (b, dim)
        if cfg.head == "residual":
            delta = self.start(vectors) + delta
        return F.normalize(delta, dim=-1)  # (b, dim)

    def prefer_fused(self) -> bool:
        """Use mamba-ssm's fused CUDA block (same parameters) when it imports and we are on CUDA."""
        fused = fused_mamba_class()
        if fused is None or not next(self.parameters()).is_cuda:
            return False
        for layer in self.layers:
            if isinstance(layer.mixer, MambaMixer):
                layer.mixer = to_fused(layer.mixer, self.cfg, fused)
        return True


# -- mamba-ssm interop -----------------------------------------------------------------------------
def fused_mamba_class():
    """mamba_ssm.Mamba, or None when mamba-ssm cannot import (it needs CUDA to import at all)."""
    try:
        from mamba_ssm import Mamba  # type: ignore[import-not-found]
    except Exception:  # ImportError, or its CUDA extension failing to load
        return None
    return Mamba


def fused_parameter_shapes(cfg: LVMConfig) -> dict[str, tuple[int, ...]]:
    """The parameters mamba-ssm's `Mamba(d_model, d_state, d_conv, expand, dt_rank)` creates
    (conv_bias=True, bias=False, its defaults), by name; our MambaMixer must match them exactly."""
    d, d_in, n, r, k = cfg.d_model, cfg.d_inner, cfg.d_state, cfg.rank, cfg.d_conv
    return {
        "in_proj.weight": (2 * d_in, d),
        "conv1d.weight": (d_in, 1, k),
        "conv1d.bias": (d_in,),
        "x_proj.weight": (r + 2 * n, d_in),
        "dt_proj.weight": (d_in, r),
        "dt_proj.bias": (d_in,),
        "A_log": (d_in, n),
        "D": (d_in,),
        "out_proj.weight": (d, d_in),
    }


def to_fused(mixer: MambaMixer, cfg: LVMConfig, fused_cls) -> nn.Module:
    """A fused mamba-ssm block holding exactly `mixer`'s parameters (strict state-dict load)."""
    p = next(mixer.parameters())
    block = fused_cls(
        d_model=cfg.d_model, d_state=cfg.d_state, d_conv=cfg.d_conv, expand=cfg.expand, dt_rank=cfg.rank
    ).to(device=p.device, dtype=p.dtype)
    block.load_state_dict(mixer.state_dict(), strict=True)
    return block
