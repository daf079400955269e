"""The one criterion contract: every computing module returns its criteria as `Criterion`s, the gates
only read them, and reports, `lvmgate status` and the final verdict read nothing else.

A criterion is in exactly one of three states:
- measured: it has a value (an Estimate with its 95% interval) and, once judged against the policy,
  a status pass / warn / fail;
- not_measured(reason): it could have been measured and was not (weights missing, a backend not
  requested, no artifact for this model). Never a pass: the phase is at best WARN, and every report
  lists it under "not measured";
- not_applicable(reason): it cannot apply to this input (analogies in a hashing encoder's space).
  It does not move the decision; it is listed under "not applicable", never dropped.

    Criterion.measured("1.1.mean_similarity", estimate, "over 1,000 articles").judged(policy)
    Criterion.not_measured("1.4.bleu4[jxe]", "vec2text weights not found: ...")
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from lvmgate.results import Estimate, Result


class Policy(Protocol):
    """What judging needs of a policy (lvmgate.policy.Policy): the threshold of a criterion id."""

    def __getitem__(self, criterion_id: str) -> Any: ...


MEASURED, NOT_MEASURED, NOT_APPLICABLE = "measured", "not_measured", "not_applicable"
STATES = (MEASURED, NOT_MEASURED, NOT_APPLICABLE)
PASS, WARN, FAIL = "pass", "warn", "fail"
# phaseN.json keeps the contract's four statuses (DESIGN.md); `state` says which kind of skip
SKIP = "skip"


@dataclass(frozen=True)
class Criterion(Result):
    """One criterion of the plan (or beyond it), measured or not, judged or not yet.

    `status` is "" until `judged(policy)`; then pass / warn / fail for a measured criterion and the
    state itself (not_measured / not_applicable) otherwise. `reason` is the message beside a value,
    or why there is no value. `provenance` names the artifact the value came from.
    """

    id: str
    state: str = MEASURED
    value: Estimate | None = None
    reason: str = ""
    status: str = ""
    threshold: str = ""
    title: str = ""
    fail_action: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"{self.id}: unknown criterion state {self.state!r}")
        if self.state == MEASURED and self.value is None:
            raise ValueError(f"{self.id}: a measured criterion needs a value")
        if self.state != MEASURED and not self.reason:
            raise ValueError(f"{self.id}: {self.state} needs a reason")

    # -- the three constructors -------------------------------------------------------------------
    @classmethod
    def measured(cls, id: str, value: Estimate | float | int | bool, reason: str = "") -> Criterion:
        """A value with its interval; plain numbers are exact (no sampling uncertainty)."""
        if not isinstance(value, Estimate):
            value = Estimate.exact(float(value), 1)
        return cls(id, MEASURED, value, reason)

    @classmethod
    def not_measured(cls, id: str, reason: str) -> Criterion:
        return cls(id, NOT_MEASURED, None, reason)

    @classmethod
    def not_applicable(cls, id: str, reason: str) -> Criterion:
        return cls(id, NOT_APPLICABLE, None, reason)

    # -- reading ---------------------------------------------------------------------------------
    @property
    def is_measured(self) -> bool:
        return self.state == MEASURED

    @property
    def base_id(self) -> str:
        """'1.4.bleu4' for '1.4.bleu4[jxe]'."""
        return self.id.split("[", 1)[0]

    @property
    def variant(self) -> str | None:
        return self.id.split("[", 1)[1].rstrip("]") if "[" in self.id else None

    @property
    def section(self) -> str:
        """The plan section: '1.1', '2.3', ... or 'final'."""
        return self.base_id.rsplit(".", 1)[0]

    @property
    def phase(self) -> int | None:
        """The plan section's phase; the final success criteria (`final.*`) belong to phase 4."""
        head = self.id.split(".", 1)[0]
        if head == "final":
            return 4
        return int(head) if head.isdigit() else None

    @property
    def contract_status(self) -> str:
        """pass / warn / fail / skip, the status field of phaseN.json (DESIGN.md)."""
        return self.status if self.status in (PASS, WARN, FAIL) else SKIP

    def value_text(self, digits: int = 3) -> str:
        """'0.42 [0.41, 0.43]', '0.42' without an interval, or 'not measured' / 'not applicable'."""
        if self.state != MEASURED or self.value is None:
            return self.state.replace("_", " ")
        e = self.value

        def f(x: float) -> str:
            return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:,.0f}"

        if _nan(e.value):
            return "n/a"
        if _nan(e.low) or _nan(e.high) or e.low == e.high == e.value:
            return f(e.value)
        return f"{f(e.value)} [{f(e.low)}, {f(e.high)}]"

    # -- judging ---------------------------------------------------------------------------------
    def judged(self, policy: Policy) -> Criterion:
        """This criterion with the policy's threshold, title, fail action and status filled in."""
        t = policy[self.id]
        title = t.title + (f" ({self.variant})" if self.variant else "")
        status = t.judge(self.value) if self.state == MEASURED else self.state
        return replace(self, status=status, threshold=t.describe(), title=title, fail_action=t.fail_action)

    def undecided(self, policy: Policy) -> bool:
        """Measured, and its interval's two ends would be judged differently (sampling more may decide)."""
        if self.state != MEASURED or self.value is None:
            return False
        t = policy[self.id]
        e = self.value
        if any(_nan(x) for x in (e.value, e.low, e.high)):
            return False
        lo, hi = (Estimate.exact(x, e.n) for x in (e.low, e.high))
        return t.judge(lo) != t.judge(hi)

    def with_reason(self, extra: str) -> Criterion:
        return replace(self, reason=f"{self.reason}. {extra}" if self.reason else extra)

    def with_provenance(self, provenance: dict[str, Any]) -> Criterion:
        return replace(self, provenance=dict(provenance))

    # -- JSON ------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Criterion:
        value = data.get("value")
        if isinstance(value, dict):
            value = Estimate.from_dict(value)
        elif isinstance(value, (int, float)) and data.get("state", MEASURED) == MEASURED:
            value = Estimate(
                float(value),
                float(data.get("low", value) if data.get("low") is not None else value),
                float(data.get("high", value) if data.get("high") is not None else value),
                int(data.get("n") or 0),
            )
        else:
            value = None
        return cls(
            id=data["id"],
            state=data.get("state", MEASURED),
            value=value,
            reason=data.get("reason", data.get("message", "")) or "",
            status=data.get("status_detail", data.get("status", "")) or "",
            threshold=data.get("threshold", "") or "",
            title=data.get("title", "") or "",
            fail_action=data.get("fail_action", "") or "",
            provenance=dict(data.get("provenance") or {}),
        )

    def row(self) -> dict[str, Any]:
        """The flat phaseN.json row: the contract's id / value / threshold / status, plus the rest."""
        e = self.value
        return {
            "id": self.id,
            "title": self.title,
            "value": None if e is None else e.value,
            "low": None if e is None else e.low,
            "high": None if e is None else e.high,
            "n": None if e is None else e.n,
            "threshold": self.threshold,
            "status": self.contract_status,
            "state": self.state,
            "status_detail": self.status,
            "reason": self.reason,
            "fail_action": self.fail_action,
            "provenance": self.provenance,
        }


def _nan(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def criteria_dict(criteria: list[Criterion] | tuple[Criterion, ...]) -> dict[str, dict[str, Any]]:
    """{id: criterion dict}, the `criteria` member of every artifact (unjudged: the gate judges)."""
    out: dict[str, dict[str, Any]] = {}
    for c in criteria:
        if c.id in out:
            raise ValueError(f"criterion {c.id!r} given twice")
        out[c.id] = c.to_dict()
    return out


def read_criteria(art: dict[str, Any]) -> dict[str, Criterion]:
    """The criteria of an artifact dict, as Criterion objects."""
    return {cid: Criterion.from_dict(d) for cid, d in (art.get("criteria") or {}).items()}


def not_measured_all(ids, reason: str) -> list[Criterion]:
    """Every id not measured, for one reason (no --lvm-model, the run stopped, ...)."""
    return [Criterion.not_measured(cid, reason) for cid in ids]


def from_values(
    values: dict[str, Estimate | float | None], reasons: dict[str, str] | None = None, *, default: str = ""
) -> list[Criterion]:
    """Criteria from {id: value}: None, or an Estimate with no data (NaN over n = 0, e.g.
    lvmgate.readiness.missing), is not measured, with the id's reason (or the Estimate's method,
    or `default`); anything else is measured."""
    reasons = reasons or {}
    out = []
    for cid, v in values.items():
        why = reasons.get(cid, "")
        if v is None or (isinstance(v, Estimate) and v.n == 0 and _nan(v.value)):
            detail = (
                v.method
                if isinstance(v, Estimate) and v.method not in ("exact", "bootstrap-percentile")
                else ""
            )
            out.append(Criterion.not_measured(cid, why or detail or default or "not measured"))
        else:
            out.append(Criterion.measured(cid, v, why))
    return out
