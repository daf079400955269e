"""Training losses for next-vector prediction: cosine, MSE, InfoNCE with in-batch negatives, weighted sums.

Written as `--loss cosine`, `--loss mse`, `--loss infonce` or a weighted sum such as
`--loss cosine+0.5*infonce`. Cosine alone is satisfied by any vector near the target's
neighbourhood, copies of the context included; InfoNCE asks the prediction to be closer to its own
next chunk than to the other targets in the batch, which pushes against copying.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from lvmgate.errors import InputError
from lvmgate.results import Result


def cosine_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - mean cos(pred, target); pred, target: (b, dim)."""
    return 1.0 - F.cosine_similarity(pred.float(), target.float(), dim=-1).mean()


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all elements (targets as stored; bank vectors are usually unit length)."""
    return F.mse_loss(pred.float(), target.float())


def info_nce_loss(pred: torch.Tensor, target: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """Cross-entropy of each prediction against all targets of the batch; its own target is the class.

    logits[i, j] = cos(pred_i, target_j) / temperature: (b, b); the label of row i is i.
    """
    p = F.normalize(pred.float(), dim=-1)
    t = F.normalize(target.float(), dim=-1)
    logits = p @ t.T / temperature  # (b, b)
    return F.cross_entropy(logits, torch.arange(len(p), device=p.device))


LOSSES = {"cosine": cosine_loss, "mse": mse_loss, "infonce": info_nce_loss}
_TERM = re.compile(r"^\s*(?:(?P<w>[0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*\*\s*)?(?P<name>[a-z_]+)\s*$")


@dataclass(frozen=True)
class LossSpec(Result):
    """A weighted sum of named losses, e.g. {"cosine": 1.0, "infonce": 0.5}."""

    weights: dict[str, float] = field(default_factory=lambda: {"cosine": 1.0})
    temperature: float = 0.05  # InfoNCE only

    @classmethod
    def parse(cls, text: str, temperature: float = 0.05) -> LossSpec:
        """'cosine', 'mse', 'infonce' or terms joined by '+', each optionally 'WEIGHT*NAME'."""
        weights: dict[str, float] = {}
        for term in str(text).split("+"):
            m = _TERM.match(term)
            if not m or m["name"] not in LOSSES:
                raise InputError(
                    f"--loss {text!r}: expected NAME or WEIGHT*NAME terms joined by '+', names "
                    f"{', '.join(LOSSES)} (e.g. cosine+0.5*infonce)"
                )
            weights[m["name"]] = weights.get(m["name"], 0.0) + float(m["w"] or 1.0)
        if not any(w > 0 for w in weights.values()):
            raise InputError(f"--loss {text!r}: at least one weight must be positive")
        if not temperature > 0:
            raise InputError("the InfoNCE temperature must be positive")
        return cls(weights, float(temperature))

    def __str__(self) -> str:
        return "+".join(name if w == 1.0 else f"{w:g}*{name}" for name, w in self.weights.items())

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """(total loss, each term's unweighted value) for one batch."""
        total = pred.new_zeros((), dtype=torch.float32)
        parts: dict[str, float] = {}
        for name, weight in self.weights.items():
            fn = LOSSES[name]
            value = fn(pred, target, self.temperature) if name == "infonce" else fn(pred, target)
            parts[name] = float(value.detach())
            total = total + weight * value
        return total, parts
