"""What 3.3 produces: the failure items it reads, per-group statistics, groupings, the decoder overlap
and the whole FailureAnalysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.results import Estimate, Result

FAILURE_K = 10


MIN_GROUP_ITEMS = 20


MIN_GROUP_ARTICLES = 5  # a group from fewer articles has no usable article-bootstrap interval


DECODER_BLEU = 0.15  # 1.4's BLEU-4 bar: below it the decoder did not give the text back


COSINE_BAR = 0.6  # 2.3's bar for the predicted vector's cosine with the true next vector


GROUPINGS = ("domain", "length", "position", "entities")


QUESTIONS = {
    "types": "What types of queries fail? (abstract concepts, named entities, etc.)",
    "consistency": "Are failures consistent across vec2text and LVM?",
    "domains": "Do certain domains have higher error rates?",
    "length": "Are long/short chunks harder to reconstruct?",
}


FORMAT = "lvmgate.failure-analysis/1"


# -- inputs ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FailureItems:
    """Per-item inputs of the analysis, aligned arrays (see module doc). Not serialised whole."""

    article: np.ndarray  # (n,) cluster id per item (article number)
    rank: np.ndarray  # (n,) rank of the true next chunk in the LVM's whole-bank ranking (0 = first)
    cosine: np.ndarray  # (n,) cos(prediction, true next vector)
    text: list[str]  # true next chunk's text
    domain: np.ndarray  # (n,) int TMD domain code, -1 when missing
    position: np.ndarray  # (n,) chunk_index / (article chunks - 1) of the true next chunk
    row: np.ndarray | None = None  # (n,) bank row of the true next chunk
    article_id: list[str] | None = None
    chunk_index: np.ndarray | None = None
    decoder: str | None = None  # decoder whose failures are compared ("nearest", "jxe", ...)
    decoder_bleu4: np.ndarray | None = (
        None  # (n,) sentence BLEU-4 of the decoded true vector, NaN = not decoded
    )
    decoded: list[str] | None = None
    bank_rows: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.rank)
        for name in ("article", "cosine", "domain", "position"):
            if len(getattr(self, name)) != n:
                raise InputError(
                    f"failure items: {name} has {len(getattr(self, name))} entries for {n} items"
                )
        if len(self.text) != n:
            raise InputError(f"failure items: {len(self.text)} texts for {n} items")

    def __len__(self) -> int:
        return len(self.rank)


# -- results -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupStat(Result):
    """One group: size, failures, failure rate and its difference from all other items."""

    label: str
    n: int
    n_articles: int
    failures: int
    failure_rate: Estimate
    vs_rest: Estimate | None  # rate here minus rate of every other item (paired resamples)
    mean_cosine: float
    comparable: bool  # n >= min_group_items


@dataclass(frozen=True)
class Grouping(Result):
    """Failures split one way; `compared_groups` counts groups big enough to compare."""

    name: str
    definition: str
    groups: list[GroupStat]
    compared_groups: int
    contrast: Estimate | None  # ordered groupings: last group minus first group
    contrast_label: str
    answer: str


@dataclass(frozen=True)
class Overlap(Result):
    """LVM failures against decoder failures on the same items."""

    decoder: str
    definition: str
    n: int
    lvm_failures: int
    decoder_failures: int
    both: int
    jaccard: Estimate
    expected_jaccard: float  # if the two failure sets were independent, given their rates
    lift: Estimate | None  # P(decoder fails | LVM fails) - P(decoder fails | LVM succeeds)
    decoder_failure_rate: Estimate
    compared_groups: int  # LVM-fail and LVM-success groups with >= min items
    answer: str


@dataclass(frozen=True)
class FailureAnalysis(Result):
    """The 3.3 artifact body: failure definition, overall numbers, groupings, overlap, answers."""

    n_items: int
    n_articles: int
    bank_rows: int
    k: int
    failure_definition: str
    failures: int
    failure_rate: Estimate
    mean_cosine: Estimate
    cosine_bar: float
    below_cosine_bar: Estimate  # share of items whose predicted cosine is under the 2.3 bar
    min_group_items: int
    groupings: dict[str, Grouping]
    overlap: Overlap | None
    answers: dict[str, str]  # QUESTIONS key -> answer
    examples: list[dict[str, Any]] = field(default_factory=list)  # worst failures
    source: str = ""
    format: str = FORMAT
