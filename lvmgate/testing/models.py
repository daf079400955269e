"""Deliberately good and bad models for proving criteria both ways (GO on a good model, STOP on a bad
one) where no trained model of that quality can be had in a test.

`BankOracle` predicts the true next chunk: it looks the last context vector up in the bank (exact
nearest row) and answers with the next row. It is the ceiling every next-chunk criterion compares
against (an LVM that is exactly right), so a criterion that does not pass it is broken. It runs
both as a numpy predictor (`predict`) and as a torch module (`forward`), so the same object serves
every `--lvm-model module:attribute` use (lvmgate.lvm.load).
"""

from __future__ import annotations

import numpy as np
import torch


class _Model(torch.nn.Module):
    """A torch module that is also a numpy predictor: contexts (B, w, D) -> (B, D) both ways."""

    name = "model"

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.forward(torch.from_numpy(np.ascontiguousarray(contexts, dtype=np.float32))).numpy()


class BankOracle(_Model):
    """contexts (B, w, D) -> the bank row after the one equal to each last context vector (B, D).

    It learned nothing (`training_articles` is empty: lvmgate.readiness reads that declaration); it
    reads the bank at inference, as every retrieval backend does."""

    training_articles: frozenset[str] = frozenset()

    def __init__(self, bank: np.ndarray, name: str = "bank_oracle"):
        super().__init__()
        bank = np.asarray(bank, dtype=np.float32)  # (N, D)
        self.register_buffer("bank", torch.from_numpy(bank.copy()))
        self.name = name

    def _next_rows(self, last: torch.Tensor) -> torch.Tensor:
        rows = (last @ self.bank.T).argmax(dim=1)  # (B,): the row each last vector is
        return torch.clamp(rows + 1, max=self.bank.shape[0] - 1)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        last = context[:, -1, :]  # (B, D); bank rows are unit length, so the largest dot is the row itself
        return self.bank[self._next_rows(last)]


class SlowModel(_Model):
    """Context mean that takes `delay_s` per call: a model too slow for the plan's latency lines."""

    def __init__(self, delay_s: float = 1.2, name: str = "slow_model"):
        super().__init__()
        self.delay_s = float(delay_s)
        self.name = name

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        import time

        time.sleep(self.delay_s)
        return context.mean(dim=1)  # (B, D)


class OversizedModel(_Model):
    """Context mean carrying `gib` GiB of float32 buffer it never reads: a model too big for the plan's
    memory lines. The buffer is allocated but not touched (no resident pages) and not persistent (no
    state_dict entry), so building it costs nothing; every memory count sees its bytes."""

    def __init__(self, gib: float = 9.0, name: str = "oversized_model"):
        super().__init__()
        self.register_buffer(
            "ballast", torch.empty(int(gib * 2**30 // 4), dtype=torch.float32), persistent=False
        )
        self.name = name

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return context.mean(dim=1)  # (B, D)


class QuantizationHostileModel(_Model):
    """A linear map of the context mean whose first weight column is 1e4 times the others and reads an
    input scaled by 1e-6: float32 barely feels that column, but INT8's scale is set by it and every other
    weight rounds to zero, so the INT8 model answers something else (cosine to float32 ~0)."""

    def __init__(self, dim: int = 768, seed: int = 0, name: str = "quantization_hostile"):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.linear = torch.nn.Linear(dim, dim, bias=False)
        with torch.no_grad():
            w = torch.eye(dim) + 0.05 * torch.randn(dim, dim, generator=g)
            w[:, 0] = 1e4
            self.linear.weight.copy_(w)
        scale = torch.ones(dim)
        scale[0] = 1e-6
        self.register_buffer("scale", scale)
        self.name = name

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.linear(context.mean(dim=1) * self.scale)  # (B, D)


class PerItemModel(_Model):
    """Context mean computed one item at a time with `delay_s` per item: batching buys nothing."""

    def __init__(self, delay_s: float = 0.01, name: str = "per_item"):
        super().__init__()
        self.delay_s = float(delay_s)
        self.name = name

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        import time

        out = []
        for item in context:  # (w, D) each
            time.sleep(self.delay_s)
            out.append(item.mean(dim=0))
        return torch.stack(out)  # (B, D)


def slow_model() -> SlowModel:
    """`--lvm-model lvmgate.testing.models:slow_model` (1.2 s per call)."""
    return SlowModel()


def slower_than_half_a_second() -> SlowModel:
    """`--lvm-model lvmgate.testing.models:slower_than_half_a_second` (0.6 s per call)."""
    return SlowModel(0.6, name="slower_than_half_a_second")


def oversized_model() -> OversizedModel:
    """`--lvm-model lvmgate.testing.models:oversized_model` (9 GiB of buffers)."""
    return OversizedModel()


def quantization_hostile() -> QuantizationHostileModel:
    """`--lvm-model lvmgate.testing.models:quantization_hostile`."""
    return QuantizationHostileModel()


def per_item_model() -> PerItemModel:
    """`--lvm-model lvmgate.testing.models:per_item_model` (10 ms per context)."""
    return PerItemModel()


def install(module_name: str, **objects: object) -> str:
    """Make `objects` importable as `module_name:NAME` (the `--lvm-model module:attr` form) in this
    process; returns `module_name`. Remove with `uninstall`."""
    import sys
    import types

    module = types.ModuleType(module_name)
    module.__dict__.update(objects)
    sys.modules[module_name] = module
    return module_name


def uninstall(module_name: str) -> None:
    import sys

    sys.modules.pop(module_name, None)
