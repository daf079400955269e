"""The pure-PyTorch Mamba LVM: the selective scan against a step-by-step recurrence written here,
causality, parameter counts by construction, the mamba-ssm parameter mapping, presets, TMD input."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvmgate.errors import InputError
from lvmgate.lvm.mamba import (
    LVM,
    PRESETS,
    LVMConfig,
    causal_depthwise_conv,
    fused_mamba_class,
    fused_parameter_shapes,
    parallel_recurrence,
    preset,
    selective_scan,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TINY = LVMConfig(d_model=16, n_layers=2, dim=24, d_state=4, d_conv=3)


def reference_scan(u, delta, A, B, C, D):
    """The SSM of the paper, one batch item, channel, state and time step at a time (floats, no torch ops
    on whole tensors): h = exp(delta a) h + delta b u;  y = sum_n c h + d u."""
    b_, l_, d_in = u.shape
    n = A.shape[1]
    y = torch.zeros(b_, l_, d_in, dtype=torch.float64)
    for b in range(b_):
        for c in range(d_in):
            h = [0.0] * n
            for t in range(l_):
                dt, x = float(delta[b, t, c]), float(u[b, t, c])
                out = 0.0
                for s in range(n):
                    h[s] = math.exp(dt * float(A[c, s])) * h[s] + dt * float(B[b, t, s]) * x
                    out += float(C[b, t, s]) * h[s]
                y[b, t, c] = out + float(D[c]) * x
    return y


@FAST
@given(
    b=st.integers(1, 2),
    length=st.integers(1, 9),
    d_in=st.integers(1, 3),
    n=st.integers(1, 3),
    seed=st.integers(0, 10_000),
    parallel=st.booleans(),
)
def test_selective_scan_matches_the_recurrence(b, length, d_in, n, seed, parallel):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(b, length, d_in, generator=g, dtype=torch.float64)
    delta = F.softplus(torch.randn(b, length, d_in, generator=g, dtype=torch.float64))
    A = -torch.rand(d_in, n, generator=g, dtype=torch.float64) * 4
    B = torch.randn(b, length, n, generator=g, dtype=torch.float64)
    C = torch.randn(b, length, n, generator=g, dtype=torch.float64)
    D = torch.randn(d_in, generator=g, dtype=torch.float64)
    got = selective_scan(u, delta, A, B, C, D, parallel=parallel)
    torch.testing.assert_close(got, reference_scan(u, delta, A, B, C, D), rtol=1e-9, atol=1e-9)


@FAST
@given(length=st.integers(1, 70), seed=st.integers(0, 1000))
def test_parallel_recurrence_matches_a_loop(length, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(2, length, 3, 2, generator=g, dtype=torch.float64)
    x = torch.randn(2, length, 3, 2, generator=g, dtype=torch.float64)
    h, want = torch.zeros(2, 3, 2, dtype=torch.float64), []
    for t in range(length):
        h = a[:, t] * h + x[:, t]
        want.append(h)
    torch.testing.assert_close(parallel_recurrence(a, x), torch.stack(want, dim=1))


def test_both_scans_have_the_same_gradients():
    g = torch.Generator().manual_seed(0)
    args = [torch.randn(2, 6, 3, generator=g), torch.rand(2, 6, 3, generator=g), -torch.rand(3, 4, generator=g),
            torch.randn(2, 6, 4, generator=g), torch.randn(2, 6, 4, generator=g), torch.randn(3, generator=g)]  # fmt: skip
    grads = []
    for parallel in (False, True):
        xs = [a.clone().requires_grad_() for a in args]
        selective_scan(*xs, parallel=parallel).square().sum().backward()
        grads.append([x.grad for x in xs])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_causal_conv_equals_conv1d():
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(6, 6, kernel_size=4, groups=6, padding=3)
    u = torch.randn(3, 7, 6)
    want = conv(u.transpose(1, 2))[..., :7].transpose(1, 2)
    torch.testing.assert_close(causal_depthwise_conv(u, conv.weight, conv.bias), want)


def test_output_is_unit_and_causal():
    torch.manual_seed(0)
    model = LVM(TINY).eval()
    ctx = torch.randn(4, 6, TINY.dim)
    out = model(ctx)
    assert out.shape == (4, TINY.dim)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(4))
    # causal: the hidden states of the first 3 positions do not depend on what follows them
    with torch.no_grad():
        x = model.in_proj(ctx)
        for layer in model.layers:
            x = layer(x)
        x2 = model.in_proj(torch.cat([ctx[:, :3], torch.randn(4, 3, TINY.dim)], dim=1))
        for layer in model.layers:
            x2 = layer(x2)
    torch.testing.assert_close(x[:, :3], x2[:, :3])


def test_context_order_matters():
    torch.manual_seed(1)
    model = LVM(replace(TINY, head="plain")).eval()
    ctx = torch.randn(2, 5, TINY.dim)
    assert not torch.allclose(model(ctx), model(ctx.flip(1)))


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 5), w=st.integers(1, 9), seed=st.integers(0, 10_000), tmd=st.booleans())
def test_the_residual_head_starts_at_the_context_mean_on_any_input(b, w, seed, tmd):
    cfg = replace(TINY, tmd_dim=4 if tmd else 0, dropout=0.2)
    torch.manual_seed(seed)
    model = LVM(cfg).eval()
    ctx = torch.randn(b, w, cfg.dim) * torch.rand(b, w, 1) * 3  # rows of any length
    codes = torch.randn(b, w, 4) if tmd else None
    mean = torch.nn.functional.normalize(ctx.mean(1), dim=-1)
    torch.testing.assert_close(model(ctx, codes), mean, atol=1e-6, rtol=0)
    # ... and it can leave it: one gradient step on the correction moves the prediction
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    target = torch.nn.functional.normalize(torch.randn(b, cfg.dim), dim=-1)
    loss = 1 - torch.nn.functional.cosine_similarity(model(ctx, codes), target).mean()
    loss.backward()
    assert model.head.weight.grad.abs().sum() > 0 and model.recency.grad is not None
    opt.step()
    model.eval()
    assert not torch.allclose(model(ctx, codes), mean, atol=1e-4)


def test_recency_moves_the_start_from_the_mean_to_the_last_vector():
    model = LVM(TINY).eval()
    ctx = torch.randn(3, 5, TINY.dim)
    with torch.no_grad():
        model.recency.fill_(60.0)
    last = torch.nn.functional.normalize(ctx[:, -1], dim=-1)
    torch.testing.assert_close(model(ctx), last, atol=1e-5, rtol=0)


def test_checkpoints_from_before_the_residual_head_load_as_plain():
    old = {k: v for k, v in TINY.to_dict().items() if k not in ("head", "dropout")}
    assert LVMConfig.saved(old).head == "plain" and LVMConfig.saved(TINY.to_dict()).head == "residual"
    with pytest.raises(InputError, match="head must be one of"):
        LVMConfig(head="mlp")
    with pytest.raises(InputError, match="dropout"):
        LVMConfig(dropout=1.0)


@pytest.mark.parametrize("name", list(PRESETS))
def test_parameter_count_by_construction(name):
    cfg = PRESETS[name]
    if name in ("medium", "large"):  # building them costs seconds; count on meta tensors instead
        with torch.device("meta"):
            model = LVM(cfg)
    else:
        model = LVM(cfg)
    assert sum(p.numel() for p in model.parameters()) == cfg.param_count()


def test_plan_presets_and_flags():
    assert (PRESETS["small"].d_model, PRESETS["small"].n_layers) == (768, 12)
    assert (PRESETS["large"].d_model, PRESETS["large"].n_layers) == (768, 24)
    sizes = [PRESETS[n].param_count() for n in ("tiny", "small", "medium", "large")]
    assert sizes == sorted(sizes)
    # the plan's small/large flags give ~47M / ~92M parameters, not the "130M" / "760M" it names
    assert 40e6 < PRESETS["small"].param_count() < 50e6
    assert 85e6 < PRESETS["large"].param_count() < 95e6
    assert (
        preset("small", d_model=256, n_layers=3, dim=384).param_count()
        == LVMConfig(256, 3, 384).param_count()
    )
    with pytest.raises(InputError, match="unknown model size 'huge'"):
        preset("huge")
    with pytest.raises(InputError, match="positive integer"):
        preset("tiny", d_model=0)


def test_parameters_map_one_to_one_onto_mamba_ssm():
    cfg = LVMConfig(d_model=32, n_layers=1, dim=8, d_state=4, d_conv=4, expand=2)
    mixer = LVM(cfg).layers[0].mixer
    ours = {k: tuple(v.shape) for k, v in mixer.state_dict().items()}
    assert ours == fused_parameter_shapes(cfg)


@pytest.mark.skipif(
    not torch.cuda.is_available() or fused_mamba_class() is None, reason="needs CUDA and mamba-ssm"
)
def test_fused_block_gives_the_same_outputs():  # pragma: no cover - CUDA only
    torch.manual_seed(0)
    model = LVM(LVMConfig(d_model=64, n_layers=2, dim=32)).cuda().eval()
    ctx = torch.randn(8, 5, 32, device="cuda")
    want = model(ctx)
    assert model.prefer_fused()
    torch.testing.assert_close(model(ctx), want, rtol=1e-3, atol=1e-3)


def test_fused_path_is_not_taken_on_cpu():
    model = LVM(TINY)
    assert model.prefer_fused() is False
    assert all(type(layer.mixer).__name__ == "MambaMixer" for layer in model.layers)


def test_tmd_input():
    cfg = LVMConfig(d_model=16, n_layers=1, dim=24, tmd_dim=16)
    model = LVM(cfg)
    ctx, tmd = torch.randn(2, 5, 24), torch.randn(2, 5, 16)
    assert model(ctx, tmd).shape == (2, 24)
    assert model.in_proj.in_features == 24 + 16
    with pytest.raises(InputError, match="needs TMD codes"):
        model(ctx)
    with pytest.raises(InputError, match="without TMD"):
        LVM(TINY)(torch.randn(2, 5, TINY.dim), torch.randn(2, 5, 16))


def test_wrong_context_shape_is_one_clear_error():
    with pytest.raises(InputError, match=r"context must be \(batch, window, 24\)"):
        LVM(TINY)(torch.randn(2, 5, 768))


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = LVM(TINY)
    ctx, tgt = torch.randn(3, 5, TINY.dim), torch.randn(3, TINY.dim)
    grads = []
    for flag in (False, True):
        model.zero_grad()
        model.gradient_checkpointing = flag
        (1 - F.cosine_similarity(model(ctx), tgt)).mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_bf16_autocast_runs_on_cpu():
    model = LVM(TINY)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 5, TINY.dim))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
