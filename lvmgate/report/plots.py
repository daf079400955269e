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


# -- phase 3: grid (3.1), retrieval (3.2), failures (3.3) ---------------------------------------------
def _note(title: str, text: str) -> bytes:
    """A placeholder figure saying why there is nothing to draw."""
    fig, ax = _figure(6.0, 1.2)
    ax.axis("off")
    ax.text(0.0, 0.5, text, fontsize=9, va="center", wrap=True)
    ax.set_title(title)
    return _png(fig)


def _ci(items: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Values and asymmetric error bars (2, n) from Estimate dicts (missing intervals: no bar)."""
    v = np.array([e["value"] if e and e["value"] is not None else np.nan for e in items], float)
    lo = np.array([e["low"] if e and e["low"] is not None else np.nan for e in items], float)
    hi = np.array([e["high"] if e and e["high"] is not None else np.nan for e in items], float)
    err = np.vstack([np.nan_to_num(v - lo), np.nan_to_num(hi - v)])
    return v, np.clip(err, 0, None)


def grid_margins(result: dict) -> bytes:
    """3.1: each completed run's selection metric with its 95% interval; the best in green."""
    title = "3.1 Grid: validation margin over the stronger baseline"
    runs = [r for r in result.get("runs", []) if r.get("margin")]
    if not runs:
        return _note(title, result.get("missing") or "no completed run to show")
    metric = result.get("metric", "margin")
    key = "margin" if metric == "margin" else "val_cosine"
    v, err = _ci([r[key] for r in runs])
    colors = [
        "tab:green" if r["name"] == result.get("best") else "tab:orange" if r.get("red_flags") else "tab:blue"
        for r in runs
    ]
    fig, ax = _figure(6.0, max(2.2, 0.35 * len(runs) + 1.2))
    y = np.arange(len(runs))[::-1]
    ax.barh(y, v, xerr=err, color=colors, capsize=3)
    ax.set_yticks(y, [r["name"] for r in runs], fontsize=8)
    ax.axvline(0, color="gray", lw=1)
    if metric == "margin":
        ax.axvline(0.01, color="tab:red", ls="--", lw=1, label="gate 3.1: > 0.01 over each baseline")
        ax.legend(fontsize=8)
    ax.set_xlabel(f"{key.replace('_', ' ')} (green: best; orange: red flags)")
    ax.set_title(title)
    return _png(fig)


def retrieval_hits(result: dict) -> bytes:
    """3.2: hit@10 (the plan's Recall@10) and graded recall@10 per backend, 95% intervals."""
    title = "3.2 Next-chunk retrieval over the whole bank"
    rows = result.get("backends")
    if not rows:
        return _note(title, result.get("missing") or "no benchmark")
    k = result.get("k", 10)
    names = list(rows)
    hv, herr = _ci([rows[b]["metrics"][f"hit@{k}"] for b in names])
    rv, rerr = _ci([rows[b]["metrics"][f"recall@{k}"] for b in names])
    x = np.arange(len(names))
    fig, ax = _figure()
    ax.bar(x - 0.2, hv, 0.4, yerr=herr, capsize=3, label=f"hit@{k} (true next chunk in top {k})")
    ax.bar(x + 0.2, rv, 0.4, yerr=rerr, capsize=3, alpha=0.6, label=f"graded recall@{k}")
    if "vec" in rows:
        vec = rows["vec"]["metrics"][f"hit@{k}"]["value"]
        ax.axhline(vec + 0.05, color="tab:red", ls="--", lw=1, label="vec + 5 points (gate 3.2)")
    ax.set_xticks(x, [n.replace("_", "-") for n in names], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of queries")
    ax.set_title(f"{title} ({result.get('bank_rows', 0):,} rows)")
    ax.legend(fontsize=7)
    return _png(fig)


def retrieval_latency(result: dict) -> bytes:
    """3.2: single-query latency p50 / p95 per backend, with the 500 ms line."""
    title = "3.2 Latency, one query alone"
    rows = result.get("backends")
    if not rows:
        return _note(title, result.get("missing") or "no benchmark")
    names = [b for b in rows if rows[b]["latency"]["n"]]
    p50 = np.array([rows[b]["latency"]["p50_ms"] for b in names], float)
    p95 = np.array([rows[b]["latency"]["p95_ms"] for b in names], float)
    x = np.arange(len(names))
    fig, ax = _figure()
    ax.bar(x - 0.2, p50, 0.4, label="p50")
    ax.bar(x + 0.2, p95, 0.4, label="p95")
    ax.axhline(500, color="tab:red", ls="--", lw=1, label="500 ms (gate 3.2)")
    ax.set_yscale("log")
    ax.set_xticks(x, [n.replace("_", "-") for n in names], fontsize=8)
    ax.set_ylabel("ms per query")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig)


def failure_groups(result: dict) -> bytes:
    """3.3: failure rate per group of each grouping, 95% article-bootstrap intervals, overall line."""
    title = "3.3 Failure rate by group"
    groupings = result.get("groupings")
    if not groupings:
        return _note(title, result.get("missing") or "no analysis")
    import matplotlib.pyplot as plt

    names = list(groupings)
    rows = sum(len(groupings[n]["groups"]) for n in names)
    fig, axes = plt.subplots(len(names), 1, figsize=(6.5, 1.5 + 1.25 * rows / 3), dpi=100)
    axes = np.atleast_1d(axes)
    overall = result["failure_rate"]["value"]
    for ax, name in zip(axes, names):
        groups = groupings[name]["groups"]
        v, err = _ci([g["failure_rate"] for g in groups])
        y = np.arange(len(groups))[::-1]
        colors = ["tab:blue" if g["comparable"] else "lightgray" for g in groups]
        ax.barh(y, v, xerr=err, color=colors, capsize=2)
        ax.set_yticks(y, [f"{g['label']} (n={g['n']})" for g in groups], fontsize=7)
        ax.axvline(overall, color="tab:red", ls="--", lw=1)
        ax.set_xlim(0, 1)
        ax.set_title(f"{name} (red: overall {overall:.1%}; gray: too few items)", fontsize=8)
    axes[-1].set_xlabel(f"failure rate (next chunk not in the LVM's top {result.get('k', 10)})")
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def failure_overlap(result: dict) -> bytes:
    """3.3: items by LVM outcome and decoder outcome (the plan's 'consistent failures' question)."""
    title = "3.3 LVM failures vs decoder failures"
    o = result.get("overlap")
    if not o or not o.get("n"):
        return _note(title, result.get("missing") or "no decoder was run")
    both, lvm, dec, n = o["both"], o["lvm_failures"], o["decoder_failures"], o["n"]
    cells = np.array([[both, lvm - both], [dec - both, n - lvm - dec + both]], float)
    fig, ax = _figure(4.5, 3.2)
    ax.imshow(cells, cmap="Blues")
    for (i, j), c in np.ndenumerate(cells):
        ax.text(j, i, f"{int(c)}", ha="center", va="center", fontsize=11)
    ax.set_xticks([0, 1], [f"{o['decoder']} fails", f"{o['decoder']} ok"])
    ax.set_yticks([0, 1], ["LVM fails", "LVM ok"])
    j = o["jaccard"]
    ax.set_title(f"{title}\nJaccard {j['value']:.3f} (independent: {o['expected_jaccard']:.3f})", fontsize=9)
    return _png(fig)


PLOTS["grid_search"] = [("Grid runs: selection metric", grid_margins)]
PLOTS["retrieval_benchmark"] = [
    ("Recall by backend", retrieval_hits),
    ("Latency by backend", retrieval_latency),
]
PLOTS["failure_analysis"] = [
    ("Failure rate by group", failure_groups),
    ("LVM vs decoder failures", failure_overlap),
]
