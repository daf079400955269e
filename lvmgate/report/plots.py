"""Report plots as PNG bytes (matplotlib, Agg backend): one function per picture, dicts in.

Each function takes an artifact's result as a plain dict (what the artifact JSON holds), so plots
can be redrawn from cached artifacts without recomputing anything.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np


def _figure(width: float = 6.0, height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    return fig, ax


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def coherence_histogram(result: dict) -> bytes:
    """Consecutive-pair cosines against the random-pair null, with the pair thresholds."""
    h = result["histogram"]
    edges = np.asarray(h["edges"])
    centers = (edges[:-1] + edges[1:]) / 2
    cons = np.asarray(h["consecutive"], float)
    null = np.asarray(h["null"], float)
    fig, ax = _figure()
    width = edges[1] - edges[0]
    ax.bar(centers, cons / max(cons.sum(), 1), width=width, alpha=0.7, label="consecutive pairs")
    ax.bar(centers, null / max(null.sum(), 1), width=width, alpha=0.5, label="random pairs (null)")
    ax.axvline(result["low_pair"], color="tab:red", ls="--", lw=1, label=f"low < {result['low_pair']}")
    ax.axvline(result["high_pair"], color="tab:green", ls="--", lw=1, label=f"high >= {result['high_pair']}")
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("share of pairs")
    ax.set_title("1.1 Consecutive-chunk coherence vs random pairs")
    ax.legend(fontsize=8)
    return _png(fig)


def decay_curve(result: dict) -> bytes:
    """cos(v_i, v_i+k) by lag k with 95% intervals, and the null line."""
    decay = result["decay"]
    k = np.arange(1, len(decay) + 1)
    v = np.array([d["value"] for d in decay], float)
    lo = np.array([d["low"] for d in decay], float)
    hi = np.array([d["high"] for d in decay], float)
    fig, ax = _figure()
    ax.errorbar(k, v, yerr=[v - lo, hi - v], marker="o", capsize=3, label="same article, k apart")
    ax.axhline(result["null_mean"]["value"], color="gray", ls=":", label="random pairs")
    ax.set_xticks(k)
    ax.set_xlabel("lag k (chunks)")
    ax.set_ylabel("mean cosine")
    ax.set_title("1.1 Decay curve: neighbours should be closest")
    ax.legend(fontsize=8)
    return _png(fig)


def tmd_bars(result: dict) -> bytes:
    """Share of chunks per domain, with the 5% representation line and the 50% top-domain line."""
    domains = result["domains"]
    names = [d["name"] for d in domains]
    pct = [d["pct"] for d in domains]
    fig, ax = _figure(6.0, max(2.5, 0.28 * len(names) + 1))
    colors = ["tab:red" if d["code"] in (0, None) else "tab:blue" for d in domains]
    ax.barh(names[::-1], pct[::-1], color=colors[::-1])
    ax.axvline(result["present_pct"], color="gray", ls=":", label=f"{result['present_pct']:g}% (represented)")
    ax.axvline(50, color="tab:red", ls="--", lw=1, label="50% (top-domain limit)")
    ax.set_xlabel("% of chunks")
    ax.set_title("1.2 TMD domain distribution")
    ax.legend(fontsize=8)
    return _png(fig)


def length_histogram(result: dict) -> bytes:
    """Chunk lengths with the plan's 50 / 250-400 / 1000 character marks."""
    h = result["length_histogram"]
    edges = np.asarray(h["edges"], float)
    counts = np.asarray(h["counts"], float)
    fig, ax = _figure()
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", alpha=0.8, edgecolor="white")
    for x, style in ((result["short_chars"], "--"), (250, ":"), (400, ":"), (result["long_chars"], "--")):
        ax.axvline(x, color="tab:red" if style == "--" else "gray", ls=style, lw=1)
    ax.set_xlim(0, min(edges[-1], 2000))
    ax.set_xlabel("chunk length (characters)")
    ax.set_ylabel("chunks")
    ax.set_title("1.3 Chunk lengths")
    return _png(fig)


PLOTS: dict[str, list[tuple[str, Callable[[dict], bytes]]]] = {
    "coherence": [("Coherence vs random pairs", coherence_histogram), ("Decay curve", decay_curve)],
    "tmd": [("TMD domains", tmd_bars)],
    "boundaries": [("Chunk lengths", length_histogram)],
}
