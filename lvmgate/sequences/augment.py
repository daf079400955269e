"""Plan 4.1 augmentation, applied on the fly to context batches; targets are never touched.

Three independent perturbations of a (B, w, D) context batch, each with its own parameter
(defaults from the policy params `augment_*`):
- shuffle: with probability `shuffle_prob` a window's context order is permuted (within the
  window only, so article boundaries are preserved); not every window, since permuting them all
  would erase the order signal the model is meant to learn;
- noise: Gaussian noise with standard deviation `noise_sigma` added to every context vector;
- mask: each context vector zeroed with probability `mask_frac` (after the noise, so masked
  vectors are exactly zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lvmgate.errors import InputError
from lvmgate.results import Result


@dataclass(frozen=True)
class Augmentation(Result):
    """Augmentation parameters; `apply` perturbs a context batch with a caller-seeded generator."""

    mask_frac: float = 0.10
    noise_sigma: float = 0.01
    shuffle: bool = True
    shuffle_prob: float = 0.10

    def __post_init__(self) -> None:
        for name in ("mask_frac", "shuffle_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise InputError(f"augmentation {name} must be in [0, 1], got {v}")
        if not (self.noise_sigma >= 0.0 and np.isfinite(self.noise_sigma)):
            raise InputError(f"augmentation noise_sigma must be >= 0, got {self.noise_sigma}")

    @classmethod
    def from_policy(cls, policy=None) -> Augmentation:
        """Parameters from the policy (`augment_mask_frac`, `augment_noise_sigma`, `augment_shuffle`)."""
        if policy is None:
            from lvmgate.policy import default_policy

            policy = default_policy()
        p = policy.params
        return cls(
            float(p["augment_mask_frac"]),
            float(p["augment_noise_sigma"]),
            bool(p["augment_shuffle"]),
            float(p.get("augment_shuffle_prob", cls.shuffle_prob)),
        )

    @classmethod
    def from_dict(cls, data: dict) -> Augmentation:
        return cls(
            float(data["mask_frac"]),
            float(data["noise_sigma"]),
            bool(data["shuffle"]),
            float(data.get("shuffle_prob", cls.shuffle_prob)),
        )

    def apply(self, context: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A perturbed float32 copy of a (B, w, D) context batch."""
        ctx = np.array(context, dtype=np.float32, copy=True)  # (B, w, D)
        b, w, _d = ctx.shape
        if self.shuffle and self.shuffle_prob > 0 and w > 1:
            chosen = np.flatnonzero(rng.random(b) < self.shuffle_prob)
            if chosen.size:
                perm = np.argsort(rng.random((chosen.size, w)), axis=1)  # (k, w) a permutation per row
                ctx[chosen] = np.take_along_axis(ctx[chosen], perm[:, :, None], axis=1)
        if self.noise_sigma > 0:
            ctx += rng.normal(0.0, self.noise_sigma, size=ctx.shape).astype(np.float32)
        if self.mask_frac > 0:
            ctx[rng.random((b, w)) < self.mask_frac] = 0.0
        return ctx
