"""Small frozen result objects: printable, `to_dict()` / `to_json()`, with provenance.

Every metric returns a frozen dataclass deriving from `Result`; headline numbers are `Estimate`s
(point value plus a bootstrap 95% interval), so a gate can tell "below threshold" from "undecided".
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import platform
from dataclasses import dataclass, field
from typing import Any

from lvmgate.io import to_jsonable


class Result:
    """Mixin for frozen dataclasses: JSON round trip and a readable one-screen print."""

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:  # short and aligned, for notebooks and the CLI
        lines = [type(self).__name__]
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name in getattr(self, "_hidden_fields", ()):
                continue
            text = str(value) if isinstance(value, Estimate) else _short(value)
            lines.append(f"  {f.name:<24} {text}")
        return "\n".join(lines)


GIB = 2**30  # bytes in a GiB: every memory criterion is in GiB and named `*_gib`


def human_bytes(n: float) -> str:
    """A byte count for people, in binary units: '1.23 GiB', '45.6 MiB', '789 B'."""
    for unit, size in (("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _short(value: Any, limit: int = 90) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Estimate(Result):
    """A point value with a 95% interval (`low`, `high`) from `method` over `n` units."""

    value: float
    low: float
    high: float
    n: int
    method: str = "bootstrap-percentile"

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}] (n={self.n})"

    def __float__(self) -> float:
        return float(self.value)

    @classmethod
    def exact(cls, value: float, n: int) -> Estimate:
        """A number with no sampling uncertainty (a count over the whole dataset)."""
        return cls(float(value), float(value), float(value), int(n), "exact")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Estimate:
        nan = float("nan")
        return cls(
            *(nan if data.get(k) is None else data[k] for k in ("value", "low", "high")),
            int(data.get("n", 0)),
            data.get("method", "bootstrap-percentile"),
        )


def _version() -> str:
    from lvmgate import __version__

    return __version__


@dataclass(frozen=True)
class Provenance(Result):
    """Where a number came from: enough to reproduce it and to tell whether it is stale."""

    dataset: str | None
    store: str | None
    fingerprint: str | None
    sample_size: int | None  # units sampled (articles, windows, queries); None: not a sample
    seed: int
    params: dict[str, Any] = field(default_factory=dict)  # everything else the value depends on
    tool: str = ""
    policy_digest: str = ""
    lvmgate_version: str = field(default_factory=_version)
    python: str = field(default_factory=platform.python_version)
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))

    def matches(self, other: dict[str, Any]) -> bool:
        """Same dataset content, sample, parameters and lvmgate version (time and thresholds may differ:
        thresholds are applied to an artifact, they do not change it)."""
        keys = ("dataset", "fingerprint", "sample_size", "seed", "params", "lvmgate_version")
        mine = self.to_dict()
        return all(mine.get(k) == other.get(k) for k in keys)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        """Read back an artifact's provenance (unknown keys are an error: one shape everywhere)."""
        names = {f.name for f in dataclasses.fields(cls)}
        extra = set(data) - names
        if extra:
            raise ValueError(f"not a Provenance: unknown keys {sorted(extra)}")
        return cls(**{k: v for k, v in data.items() if k in names})

    def brief(self) -> dict[str, Any]:
        """What a criterion carries of its artifact's provenance (the whole record is in phaseN.json)."""
        return {
            k: getattr(self, k)
            for k in ("tool", "dataset", "fingerprint", "sample_size", "seed", "created_at")
            if getattr(self, k) not in (None, "")
        }
