"""Per-item features for 3.3's groupings: entity tokens and density, length terciles, position in the
article.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")


# -- per-item features -----------------------------------------------------------------------------
def entity_tokens(text: str) -> tuple[int, int]:
    """(entity-like tokens, word tokens) of `text` by the capitalisation heuristic (module doc)."""
    entities = words = 0
    for sentence in _SENTENCE_END.split(text):
        for j, tok in enumerate(_WORD.findall(sentence)):
            words += 1
            number = tok[0].isdigit()
            acronym = len(tok) >= 2 and tok.isupper() and tok.isalpha()
            name = j > 0 and tok[0].isupper()  # capitalised, not the sentence's first word
            entities += number or acronym or name
    return entities, words


def entity_density(text: str) -> float:
    """Share of word tokens that look like named entities (0 for a text without words)."""
    e, w = entity_tokens(text)
    return e / w if w else 0.0


def tercile_groups(values: np.ndarray, names: Sequence[str], unit: str = "") -> tuple[np.ndarray, list[str]]:
    """(codes, labels): values split at their 1/3 and 2/3 quantiles into len(names) = 3 groups.
    Ties never split: a value sits in one group, so heavy ties leave fewer (non-empty) groups."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.unique(np.quantile(values, [1 / 3, 2 / 3])) if len(values) else np.zeros(0)
    codes = np.searchsorted(edges, values, side="left")  # v <= edge[0] -> 0, ...
    labels = []
    for g in range(len(edges) + 1):
        sel = values[codes == g]
        lo, hi = (sel.min(), sel.max()) if sel.size else (np.nan, np.nan)
        labels.append(f"{names[min(g, len(names) - 1)]} ({lo:.3g}–{hi:.3g}{unit})")
    return codes, labels


def position_groups(relative: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Fixed thirds of the relative position in the article: beginning / middle / end."""
    rel = np.clip(np.asarray(relative, dtype=np.float64), 0.0, 1.0)
    codes = np.minimum((rel * 3).astype(np.int64), 2)
    return codes, ["beginning (first third)", "middle", "end (last third)"]
