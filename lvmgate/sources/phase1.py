"""1.1-1.3 artifacts: the plan's phase-1 validation tools, cached by provenance."""

from __future__ import annotations

from collections.abc import Callable

from lvmgate.artifacts import GateContext, Source, fmt, register


# -- phase 1: the plan's validation tools --------------------------------------------------------
def _phase1(tool: str) -> Callable[[GateContext], tuple[dict, bool]]:
    def compute(ctx: GateContext) -> tuple[dict, bool]:
        from lvmgate.validation import sequential_artifact

        dataset = ctx.require_dataset()
        return sequential_artifact(
            tool,
            ctx.store,
            dataset,
            ctx.path_for(tool),
            limit=ctx.limit,
            seed=ctx.seed,
            policy=ctx.policy,
            recompute=ctx.recompute,
        )

    return compute


def _coherence_findings(r: dict) -> list[str]:
    out = [
        f"Consecutive chunks: mean cosine {fmt(r['mean'])} over {r['n_pairs']:,} pairs in {r['n_articles']:,} "
        f"articles; random pairs {fmt(r['null_mean'])}; lift {fmt(r['lift'])}.",
        f"Decay: lag 1 {r['decay'][0]['value']:.3f} -> lag {len(r['decay'])} {r['decay'][-1]['value']:.3f}; "
        f"order margin (lag 1 - lag {r['order_lag']}) {fmt(r['order_margin'])}.",
    ]
    if r["zero_rows"] or r["nan_rows"]:
        out.append(
            f"Invalid vectors: {r['zero_rows']:,} all-zero and {r['nan_rows']:,} NaN rows "
            f"({r['pairs_excluded_invalid']:,} pairs excluded from every average)."
        )
    if r["duplicate_positions"] or r["position_gaps"]:
        out.append(
            f"Positions: {r['duplicate_positions']:,} rows repeat the previous chunk_index and "
            f"{r['position_gaps']:,} skip ahead inside their article."
        )
    d = r.get("duplicates")
    if d and d["duplicate_rows"]:
        ex = (d.get("examples") or [{}])[0]
        out.append(
            f"Duplicate content: {d['duplicate_rows']:,} rows repeat an earlier row ({d['text_duplicates']:,} by "
            f"text, {d['vector_duplicates']:,} by vector; {d['within_article']:,} inside an article, "
            f"{d['across_articles']:,} across articles)"
            + (
                f"; e.g. row {ex['pos']} ({ex['article_id']}) repeats row {ex['first_pos']} "
                f'({ex["first_article_id"]}): "{ex["text"][:80]}"'
                if ex
                else ""
            )
            + "."
        )
    if r.get("worst_pairs"):
        w = r["worst_pairs"][0]
        out.append(
            f"Worst pair: {w['article_id']} chunks {w['chunk_a']}->{w['chunk_b']} cosine {w['cosine']:.3f}."
        )
    return out


def _tmd_findings(r: dict) -> list[str]:
    top = r["domains"][0] if r["domains"] else None
    out = []
    if top:
        out.append(f"Largest domain: {top['name']} with {top['pct']:.1f}% of {r['n_chunks']:,} chunks.")
    out.append(
        f"Unknown (code 0 + untagged): {fmt(r['unknown_pct'])}%; domains above {r['present_pct']:g}%: "
        f"{r['domains_over_5pct']['value']:.0f}."
    )
    if r["invalid_codes"]:
        out.append(f"{r['invalid_codes']:,} rows carry domain codes outside 0..15.")
    return out


def _boundary_findings(r: dict) -> list[str]:
    out = [
        f"Sentence-complete endings: {fmt(r['sentence_complete_pct'])}% of {r['n_chunks']:,} chunks; "
        f"mean length {r['mean_length_chars']['value']:.0f} chars (median {r['median_length_chars']:.0f}).",
    ]
    if r["short_chunks"] or r["long_chunks"]:
        out.append(
            f"{r['short_chunks']:,} chunks under {r['short_chars']} and {r['long_chunks']:,} over "
            f"{r['long_chars']} characters."
        )
    if r.get("incomplete_examples"):
        ex = r["incomplete_examples"][0]
        out.append(f'Example of an incomplete ending ({ex["reason"]}): "...{ex["text"][-80:]}"')
    return out


COHERENCE = register(
    Source("coherence", 1, _phase1("coherence"), _coherence_findings, ("coherence",), sections=("1.1",))
)
TMD = register(Source("tmd", 1, _phase1("tmd"), _tmd_findings, ("tmd",), sections=("1.2",)))
BOUNDARIES = register(
    Source("boundaries", 1, _phase1("boundaries"), _boundary_findings, ("boundaries",), sections=("1.3",))
)
