"""The final verdict: Recall@10, BLEU-4 of the LVM decoded by vec2text against vec2text's own, latency,
memory, load test; production-ready only when all are measured and pass.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lvmgate.criteria import Criterion
from lvmgate.errors import InputError
from lvmgate.io import read_json
from lvmgate.readiness.checklist import LOAD_IDS
from lvmgate.readiness.identity import ModelIdentity, artifact_status, finite
from lvmgate.results import Estimate, Result

RECONSTRUCTION_FILE = "reconstruction_lvm_vs_vec2text.json"  # plan 2.3's --output


SHIP_BASELINE = "ship the vec2text baseline instead"


FINAL_IDS = ("final.recall_at_10", "final.bleu4", "final.latency_ms", "final.memory_gib", "final.load_test")


# -- 2.3's comparison artifact, when present -----------------------------------------------------------
# where the LVM's BLEU-4 sits in a 2.3 artifact (lvmgate.compare.ReconstructionComparison): per decoder,
# vec2text decoders first (the plan's "better than vec2text"), then the nearest decoder
_BLEU_PATHS = (
    ("jxe", ("decoders", "jxe", "metrics", "lvm", "bleu4")),
    ("ielab", ("decoders", "ielab", "metrics", "lvm", "bleu4")),
)  # vec2text only: nearest's BLEU is retrieval hit@1, never the final verdict's BLEU


def _dig(obj: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _as_estimate(value: Any) -> Estimate | None:
    if isinstance(value, dict) and {"value", "low", "high"} <= set(value):
        est = Estimate.from_dict(value)
        return est if finite(est.value) else None
    return None


def reconstruction_bleu(art: dict[str, Any]) -> tuple[Estimate, str, Estimate | None] | None:
    """(the LVM's BLEU-4, decoder, vec2text's own BLEU-4 of the true next vectors) from a 2.3
    comparison artifact: the first vec2text decoder of jxe, ielab that ran and scored it, or None."""
    for decoder, path in _BLEU_PATHS:
        if _dig(art, ("decoders", decoder, "status")) not in (None, "ok"):
            continue
        est = _as_estimate(_dig(art, path))
        if est is not None:
            return est, decoder, _as_estimate(_dig(art, ("decoders", decoder, "metrics", "truth", "bleu4")))
    return None


@dataclass(frozen=True)
class BleuChoice(Result):
    """The BLEU-4 the final verdict uses and where it came from."""

    value: Estimate | None  # None: not measured
    source: str
    notes: tuple[str, ...] = ()


NO_VEC2TEXT_BLEU = (
    "the final BLEU-4 is the LVM's prediction decoded by vec2text (jxe / ielab) in plan 2.3's comparison for "
    "this model, next to vec2text's own baseline; nearest-neighbour decoding is a retrieval check (its BLEU "
    "is hit@1), not a decoder baseline. Run `lvmgate compare-reconstruction --vec2text-backends jxe,ielab` "
    "(or gate phase 2) with the vec2text weights (--model-path)"
)


def choose_bleu(model: ModelIdentity, candidates: Sequence[str | os.PathLike]) -> BleuChoice:
    """The LVM's vec2text BLEU-4 (and vec2text's own, on the same items) from the first 2.3 comparison
    artifact among `candidates` that exists, was made for `model` and decoded with jxe or ielab; else
    not measured (`value` None)."""
    notes = []
    for path in candidates:
        p = Path(path)
        if not p.is_file():
            continue
        try:
            art = read_json(p)
        except InputError as exc:
            notes.append(f"{p}: unreadable ({exc})")
            continue
        if not isinstance(art, dict):
            notes.append(f"{p}: not a JSON object")
            continue
        status = artifact_status("reconstruction", p, art, model)
        if not status.fresh:
            notes.append(status.reason)
            continue
        found = reconstruction_bleu(art)
        if found is None:
            notes.append(
                f"{p}: vec2text did not decode the LVM's predictions there (nearest only, or weights missing)"
            )
            continue
        est, decoder, baseline = found
        base = (
            f"; vec2text's own BLEU-4 on the same items (true next vector decoded): {baseline}"
            if baseline
            else ""
        )
        return BleuChoice(
            est, f"the LVM decoded by {decoder} in the 2.3 comparison artifact {p}{base}", tuple(notes)
        )
    return BleuChoice(None, "none: " + NO_VEC2TEXT_BLEU, tuple(notes))


# -- the final verdict ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FinalVerdict(Result):
    """The plan's "Success Criteria (Final)": production-ready only when all five were measured and hold."""

    production_ready: bool
    criteria_: tuple[Criterion, ...]
    statuses: dict[str, str]  # pass / warn / fail / not_measured per final criterion under the policy
    failed: tuple[str, ...]  # what did not hold or was not measured, one line each
    bleu_source: str
    statement: str

    def criteria(self) -> list[Criterion]:
        return list(self.criteria_)


FINAL_ITEMS = {
    "final.recall_at_10": "Recall@10",
    "final.bleu4": "BLEU-4",
    "final.latency_ms": "Latency",
    "final.memory_gib": "Memory",
    "final.load_test": "Load test (1000 QPS)",
}


def final_verdict(
    production: dict[str, Criterion],
    load: dict[str, Criterion] | None,
    bleu: BleuChoice,
    policy: Any,
) -> FinalVerdict:
    """Apply the five success criteria (thresholds `final.*` of `policy`) to the 4.3 criteria, the BLEU-4
    chosen by `choose_bleu` and the 4.4 load-test criteria (`LOAD_IDS`). Anything that fails or was not
    measured makes the LVM not production-ready; it is production-ready only when all five pass."""
    nm = Criterion.not_measured

    def carried(final_id: str, source_id: str) -> Criterion:
        c = production.get(source_id)
        if c is None:
            return nm(final_id, f"{source_id} was not measured")
        if not c.is_measured:
            return nm(final_id, f"{source_id} not measured: {c.reason}")
        return Criterion.measured(final_id, c.value, c.reason)

    recall = carried("final.recall_at_10", "4.3.recall_at_10")
    held = production.get("4.3.shared_articles")
    if recall.is_measured and (held is None or not held.is_measured or held.value.value != 0):
        # unknown or shared articles: not a held-out number, so it cannot count
        why = held.reason if held is not None else "unknown"
        recall = nm("final.recall_at_10", f"not a held-out measurement: {why}")
    crit = [recall]
    source = bleu.source + (f" ({'; '.join(bleu.notes)})" if bleu.notes else "")
    crit.append(
        Criterion.measured("final.bleu4", bleu.value, source)
        if bleu.value is not None
        else nm("final.bleu4", source)
    )
    crit += [carried("final.latency_ms", "4.3.latency_ms"), carried("final.memory_gib", "4.3.memory_gib")]
    if load is None:
        crit.append(nm("final.load_test", "no load test measured for this model (run `lvmgate readiness`)"))
    else:
        judged = [(load.get(cid) or nm(cid, "missing")).judged(policy) for cid in LOAD_IDS]
        missing_ = [r for r in judged if not r.is_measured]
        short = [r for r in judged if r.is_measured and r.status != "pass"]
        line = "; ".join(f"{r.id} {r.value_text()} vs {r.threshold}" for r in (short or judged))
        if missing_ and not short:  # a box measured and missed fails the test whatever else is missing
            crit.append(
                nm(
                    "final.load_test",
                    "load-test boxes not measured: " + "; ".join(f"{r.id} ({r.reason})" for r in missing_),
                )
            )
        else:
            crit.append(
                Criterion.measured(
                    "final.load_test",
                    Estimate.exact(0.0 if short else 1.0, 1),
                    (("load-test boxes not passed: " + line) if short else line)
                    + ("; not measured: " + ", ".join(r.id for r in missing_) if missing_ else ""),
                )
            )
    statuses, failed, held_lines = {}, [], []
    for c in crit:
        r = c.judged(policy)
        statuses[c.id] = r.status
        unit = policy[c.id].unit
        if r.status == "pass":
            held_lines.append(f"{FINAL_ITEMS[c.id]} {r.value_text()}{unit} ({r.threshold})")
        elif r.status == "not_measured":
            failed.append(f"{FINAL_ITEMS[c.id]} not measured")
        else:
            failed.append(
                f"{FINAL_ITEMS[c.id]} {r.value_text()}{unit} vs {r.threshold}"
                + (" (undecided)" if r.status == "warn" else "")
            )
    ready = not failed
    if ready:
        statement = (
            "FINAL VERDICT: production-ready. All five success criteria hold: " + "; ".join(held_lines) + "."
        )
    else:
        statement = (
            f"FINAL VERDICT: the LVM is NOT production-ready; {SHIP_BASELINE}. Not met: "
            + "; ".join(failed)
            + "."
        )
    return FinalVerdict(ready, tuple(crit), statuses, tuple(failed), bleu.source, statement)
