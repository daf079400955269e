"""Prometheus text-format metrics without a client library: counters, gauges, histograms, a parser.

The server updates these on its hot path, so every update is a dict lookup and an add (no locks:
all updates happen on the event-loop thread). `parse_prometheus` reads the exposition format back
(used by the load test to check that /metrics is well formed and that counters moved).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Sequence

LabelKey = tuple[tuple[str, str], ...]


def _labels(labels: LabelKey, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in items)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    """A monotonically increasing count per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()):
        self.name, self.help, self.label_names = name, help_text, tuple(label_names)
        self.values: dict[LabelKey, float] = {}

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        key = tuple(zip(self.label_names, label_values))
        self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, *label_values: str) -> float:
        return self.values.get(tuple(zip(self.label_names, label_values)), 0.0)

    def samples(self) -> list[str]:
        return [f"{self.name}{_labels(k)} {_num(v)}" for k, v in sorted(self.values.items())]


class Gauge(Counter):
    """A value that goes up and down; `fn` (if given) is read at scrape time."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, fn: Callable[[], float] | None = None):
        super().__init__(name, help_text)
        self.fn = fn

    def set(self, value: float) -> None:
        self.values[()] = float(value)

    def samples(self) -> list[str]:
        if self.fn is not None:
            self.values[()] = float(self.fn())
        return super().samples()


class Histogram:
    """Cumulative-bucket histogram with `_bucket`, `_sum` and `_count` series (no labels)."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]):
        self.name, self.help = name, help_text
        self.bounds = sorted(float(b) for b in buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # last slot: above every bound (+Inf only)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def samples(self) -> list[str]:
        out, running = [], 0
        for bound, n in zip(self.bounds, self.counts):
            running += n
            out.append(f'{self.name}_bucket{{le="{_num(bound)}"}} {running}')
        out.append(f'{self.name}_bucket{{le="+Inf"}} {self.count}')
        out.append(f"{self.name}_sum {_num(self.sum)}")
        out.append(f"{self.name}_count {self.count}")
        return out


class Registry:
    """An ordered set of metrics rendered as one Prometheus text exposition (version 0.0.4)."""

    content_type = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self) -> None:
        self.metrics: list[Counter | Histogram] = []

    def add(self, metric):
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        lines = []
        for m in self.metrics:
            lines.append(f"# HELP {m.name} {m.help}")
            lines.append(f"# TYPE {m.name} {m.kind}")
            lines.extend(m.samples())
        return "\n".join(lines) + "\n"


_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"(?:\{(?P<labels>[^}]*)\})?"
    r"\s+(?P<value>[^\s]+)(?:\s+(?P<ts>-?\d+))?$"
)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_prometheus(text: str) -> dict[str, dict[LabelKey, float]]:
    """Parse the text exposition format into {sample name: {sorted label pairs: value}}.

    Strict enough to catch a malformed exposition: every non-comment line must be a sample, every
    `# TYPE` must name a known type, and samples of a typed family must follow its TYPE line.
    Raises ValueError with the line number otherwise.
    """
    out: dict[str, dict[LabelKey, float]] = {}
    typed: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] == "TYPE":
                if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    raise ValueError(f"line {lineno}: bad TYPE line {raw!r}")
                typed[parts[2]] = parts[3]
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"line {lineno}: not a sample: {raw!r}")
        labels_text = m.group("labels") or ""
        pairs: list[tuple[str, str]] = []
        pos = 0
        while pos < len(labels_text):
            lm = _LABEL.match(labels_text, pos)
            if not lm:
                raise ValueError(f"line {lineno}: bad labels {labels_text!r}")
            pairs.append((lm.group(1), lm.group(2)))
            pos = lm.end()
        value = m.group("value")
        try:
            number = float(value.replace("+Inf", "inf").replace("-Inf", "-inf"))
        except ValueError:
            raise ValueError(f"line {lineno}: bad value {value!r}") from None
        name = m.group("name")
        family = re.sub(r"_(bucket|sum|count|total)$", "", name)
        if typed and name not in typed and family not in typed and f"{family}_total" not in typed:
            raise ValueError(f"line {lineno}: sample {name!r} has no TYPE line")
        out.setdefault(name, {})[tuple(sorted(pairs))] = number
    return out


def sample_sum(parsed: dict[str, dict[LabelKey, float]], name: str, **match: str) -> float:
    """Sum of the samples of `name` whose labels include every `match` pair (0 when absent)."""
    total = 0.0
    for labels, value in parsed.get(name, {}).items():
        d = dict(labels)
        if all(d.get(k) == v for k, v in match.items()):
            total += value
    return total
