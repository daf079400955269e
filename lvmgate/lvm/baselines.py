"""Baselines a trained LVM must beat, as plain predictors: contexts (b, w, dim) -> predictions (b, dim).

- copy-last: the last context vector. The original project's models converged to this.
- context-mean: the average of the context vectors. On held-out articles it beat copy-last and the
  trained model there (cos 0.546 vs 0.438 vs 0.354).
- ridge: a linear map from the flattened context (w * dim features, plus an intercept) to the next
  vector. It is closed form, fitted on the training split only, with its penalty chosen on held-out
  training articles. It shows what a linear model gets from the same windows.
Each is evaluated exactly like the model by `lvmgate.lvm.evaluate.evaluate_predictors`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg

from lvmgate.errors import InputError
from lvmgate.io import to_jsonable
from lvmgate.lvm.evaluate import Evaluation, Predictor, cached_evaluation, evaluate_predictors
from lvmgate.results import Result
from lvmgate.sequences.loader import SequenceSet


def copy_last(context: np.ndarray) -> np.ndarray:
    """(b, w, dim) -> (b, dim): the last context vector."""
    return np.array(context[:, -1], dtype=np.float32)  # a copy: callers may normalise it in place


def context_mean(context: np.ndarray) -> np.ndarray:
    """(b, w, dim) -> (b, dim): the mean of the context vectors."""
    return np.asarray(context, dtype=np.float32).mean(axis=1)


@dataclass(frozen=True)
class CopyLast:
    """copy-last as a Predictor (lvmgate.lvm.predictor); no memory of its own."""

    name: str = "copy_last"

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        return copy_last(contexts)

    def memory_bytes(self) -> int:
        return 0


@dataclass(frozen=True)
class ContextMean:
    """context-mean as a Predictor (lvmgate.lvm.predictor); no memory of its own."""

    name: str = "context_mean"

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        return context_mean(contexts)

    def memory_bytes(self) -> int:
        return 0


BASELINES = {"copy_last": CopyLast, "context_mean": ContextMean}  # name -> Predictor class


def baseline_module(name: str):
    """copy_last / context_mean as torch modules (B, w, dim) -> (B, dim), so they export and serve."""
    import torch

    class CopyLastModule(torch.nn.Module):
        def forward(self, context: torch.Tensor) -> torch.Tensor:
            return context[:, -1, :]  # (B, dim)

    class ContextMeanModule(torch.nn.Module):
        def forward(self, context: torch.Tensor) -> torch.Tensor:
            return context.mean(dim=1)  # (B, dim)

    modules = {"copy_last": CopyLastModule, "context_mean": ContextMeanModule}
    if name not in modules:
        raise InputError(f"unknown baseline {name!r} (use {' or '.join(BASELINES)})")
    return modules[name]().eval()


RIDGE_ALPHAS = (1e-2, 1e-1, 1.0, 10.0)  # penalty / mean diagonal of X'X, tried on held-out articles


@dataclass(frozen=True)
class RidgeBaseline(Result):
    """y = flatten(context) @ weight + bias, fitted in closed form on training windows."""

    alpha: float  # chosen penalty relative to the mean diagonal of X'X
    holdout_cosine: dict[str, float]  # mean cosine on held-out training articles per alpha tried
    n_windows: int  # training windows used for the final fit
    context_window: int
    dim: int
    weight: np.ndarray = field(repr=False)  # (w * dim, dim) float32
    bias: np.ndarray = field(repr=False)  # (dim,) float32

    _hidden_fields = ("weight", "bias")

    def to_dict(self) -> dict:  # arrays stay out of JSON (and are never converted to lists)
        return {
            f.name: to_jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in self._hidden_fields
        }

    def __call__(self, context: np.ndarray) -> np.ndarray:
        """(b, w, dim) -> (b, dim)."""
        b, w, d = context.shape
        if (w, d) != (self.context_window, self.dim):
            raise InputError(
                f"ridge was fitted on ({self.context_window}, {self.dim}) contexts, got ({w}, {d})"
            )
        return np.asarray(context, dtype=np.float32).reshape(b, w * d) @ self.weight + self.bias

    @classmethod
    def fit(
        cls,
        train: SequenceSet,
        *,
        alphas: tuple[float, ...] = RIDGE_ALPHAS,
        max_windows: int = 100_000,
        holdout: float = 0.2,
        seed: int = 0,
        batch_size: int = 4096,
    ) -> RidgeBaseline:
        """Fit on `train` (at most `max_windows`, whole articles, seeded). The penalty is chosen by
        mean cosine on `holdout` of those articles, then the model is refitted on all of them."""
        if len(train) < 2:
            raise InputError("ridge needs at least 2 training windows")
        rng = np.random.default_rng([seed, 17])
        uniq, per_article = np.unique(train.article, return_counts=True)
        perm = rng.permutation(len(uniq))  # articles in a seeded random order
        upto = int(np.searchsorted(np.cumsum(per_article[perm]), max_windows)) + 1
        chosen = uniq[perm[:upto]]  # whole articles until max_windows is reached
        n_hold = round(holdout * len(chosen)) if len(chosen) > 1 else 0
        held = np.isin(train.article, chosen[:n_hold])
        fit_rows = np.flatnonzero(np.isin(train.article, chosen) & ~held)
        hold_rows = np.flatnonzero(held)
        w, d = train.context_window, int(train.shape[2])
        p = w * d
        # fewer windows than features: the dual (Gram) form, n x n systems; else streamed moments
        solver = _Dual if len(fit_rows) + len(hold_rows) <= p else _Moments
        fit, rest = solver(p, d), solver(p, d)
        for rows, acc in ((fit_rows, fit), (hold_rows, rest)):
            for lo in range(0, len(rows), batch_size):
                ctx, tgt = train.gather(rows[lo : lo + batch_size])
                acc.add(ctx.reshape(len(ctx), -1), tgt)
        scores: dict[str, float] = {}
        if n_hold and fit.n > 1:
            for a in alphas:
                scores[f"{a:g}"] = _mean_cosine(train, hold_rows, *fit.solve(a), batch_size)
            best = max(alphas, key=lambda a: scores[f"{a:g}"])
        else:
            best = alphas[len(alphas) // 2]
        total = fit.merged(rest)
        wgt, bias = total.solve(best)
        return cls(float(best), scores, total.n, w, d, wgt.astype(np.float32), bias.astype(np.float32))


def _mean_cosine(
    train: SequenceSet, rows: np.ndarray, weight: np.ndarray, bias: np.ndarray, batch_size: int
) -> float:
    """Mean cos(x @ weight + bias, target) over windows `rows` of `train`, read in batches."""
    total = 0.0
    for lo in range(0, len(rows), batch_size):
        ctx, tgt = train.gather(rows[lo : lo + batch_size])
        pred = ctx.reshape(len(ctx), -1).astype(np.float64) @ weight + bias
        num = np.einsum("ij,ij->i", pred, tgt)
        den = np.linalg.norm(pred, axis=1) * np.linalg.norm(tgt, axis=1)
        total += float(np.sum(np.divide(num, den, out=np.zeros_like(num), where=den > 0)))
    return total / max(len(rows), 1)


class _Moments:
    """Streamed sums for centred least squares, float64: X'X (p, p), X'Y (p, d), sums of X and Y."""

    def __init__(self, p: int, d: int):
        self.n = 0
        self.xx, self.xy = np.zeros((p, p)), np.zeros((p, d))
        self.sx, self.sy = np.zeros(p), np.zeros(d)

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        self.n += len(x64)
        self.xx += x64.T @ x64
        self.xy += x64.T @ y64
        self.sx += x64.sum(0)
        self.sy += y64.sum(0)

    def merged(self, other: _Moments) -> _Moments:
        out = _Moments(*self.xy.shape)
        out.n = self.n + other.n
        for k in ("xx", "xy", "sx", "sy"):
            setattr(out, k, getattr(self, k) + getattr(other, k))
        return out

    def solve(self, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """(weight (p, d), bias (d,)) minimising |Y - XW - b|^2 + lam |W|^2, lam = alpha * mean diag(Xc'Xc)."""
        mx, my = self.sx / self.n, self.sy / self.n
        cxx = self.xx - self.n * np.outer(mx, mx)  # centred X'X
        cxy = self.xy - self.n * np.outer(mx, my)
        lam = alpha * max(float(np.trace(cxx)) / len(cxx), 1e-12)
        cxx[np.diag_indices_from(cxx)] += lam
        weight = linalg.solve(cxx, cxy, assume_a="pos")
        return weight, my - mx @ weight


class _Dual:
    """The same ridge for n <= p windows held in memory: W = Xc' (Xc Xc' + lam I)^-1 Yc (n x n solve)."""

    def __init__(self, p: int, d: int):
        self.p, self.n = p, 0
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []
        self._cache: tuple | None = None

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        self.n += len(x)
        self.parts.append((x, y))
        self._cache = None

    def merged(self, other: _Dual) -> _Dual:
        out = _Dual(self.p, 0)
        out.n, out.parts = self.n + other.n, self.parts + other.parts
        return out

    def solve(self, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is None:
            x = np.concatenate([a for a, _ in self.parts]).astype(np.float32)  # float32 GEMMs: 2x faster
            y = np.concatenate([b for _, b in self.parts]).astype(np.float32)
            mx, my = (
                x.mean(0, dtype=np.float64).astype(np.float32),
                y.mean(0, dtype=np.float64).astype(np.float32),
            )
            xc, yc = x - mx, y - my
            self._cache = (xc, yc, mx, my, xc @ xc.T)  # Gram (n, n); its trace = trace(Xc'Xc)
        xc, yc, mx, my, gram = self._cache
        lam = alpha * max(float(np.trace(gram)) / self.p, 1e-12)
        system = gram + np.float32(lam) * np.eye(len(gram), dtype=np.float32)
        weight = xc.T @ linalg.solve(system, yc, assume_a="pos")  # (p, d)
        return weight.astype(np.float64), (my - mx @ weight).astype(np.float64)


# -- evaluated like the model, saved as an artifact -------------------------------------------------
def _split_sha(s: SequenceSet) -> str | None:
    return s.meta.get("splits", {}).get(s.split, {}).get("sha256")


def evaluate_baselines(
    train: SequenceSet,
    val: SequenceSet,
    *,
    cache: str | os.PathLike | None = None,
    ridge: bool = True,
    resamples: int = 1000,
    seed: int = 0,
    max_recall_windows: int | None = 5000,
    ks: tuple[int, ...] = (1, 5, 10),
    recompute: bool = False,
) -> tuple[Evaluation, dict]:
    """copy-last, context-mean and (optionally) ridge fitted on `train`, scored on `val` exactly like
    the model. With `cache` (a path stem), a saved evaluation of the same data and settings is reused,
    and a fresh one is saved as CACHE.json + CACHE.npz. Returns (evaluation, provenance/extra)."""
    from lvmgate import __version__

    key = {
        "train_sha256": _split_sha(train),
        "val_sha256": _split_sha(val),
        "bank": {k: val.meta.get("bank", {}).get(k) for k in ("dataset", "fingerprint", "n_rows", "dim")},
        "ridge": ridge,
        "ridge_alphas": list(RIDGE_ALPHAS),
        "resamples": resamples,
        "seed": seed,
        "max_recall_windows": max_recall_windows,
        "ks": list(ks),
        "lvmgate_version": __version__,
    }

    def compute() -> tuple[Evaluation, dict]:
        predictors: dict[str, Predictor] = {"copy_last": copy_last, "context_mean": context_mean}
        fitted = RidgeBaseline.fit(train, seed=seed) if ridge else None
        if fitted is not None:
            predictors["ridge"] = fitted
        ev = evaluate_predictors(
            predictors, val, ks=ks, max_recall_windows=max_recall_windows, resamples=resamples, seed=seed
        )
        return ev, {"ridge": fitted.to_dict() if fitted else None}

    trusted = bool(key["train_sha256"] and key["val_sha256"])  # data without digests is never reused
    return cached_evaluation(cache, key, compute, reuse=trusted and not recompute)
    predictors: dict[str, Predictor] = {"copy_last": copy_last, "context_mean": context_mean}
    fitted = None
    if ridge:
        fitted = RidgeBaseline.fit(train, seed=seed)
        predictors["ridge"] = fitted
    ev = evaluate_predictors(
        predictors, val, ks=ks, max_recall_windows=max_recall_windows, resamples=resamples, seed=seed
    )
    extra = {"key": key, "ridge": fitted.to_dict() if fitted else None}
    if cache is not None:
        ev.save(cache, extra)
    return ev, extra
