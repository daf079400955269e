"""Synthetic miniature corpora with controllable sequential signal and plantable faults.

A corpus is articles of chunks of Wikipedia-like prose (abbreviations, decimals, initials, quotes;
chunks of ~250-400 characters that end on sentence boundaries) whose vectors are a real encoder's
output for the text (`hashing` by default), so text, vectors and round trips agree.

Sequential signal lives in the words: each domain has an ordered vocabulary; an article keeps a few
core words throughout and walks along its domain's vocabulary, chunk i drawing words from a window
that moves `drift` words per chunk. Consecutive chunks share window words, chunks k apart share
fewer (a real decay curve), random pairs share only function words (the null). `coherence` in [0, 1]
is the share of content words taken from the article (window + core) rather than anywhere.

Faults (`FAULTS`) each change one thing, the way the real pipeline broke; see `FAULTS` for text.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.corpus import ChunkRecord, write_records
from lvmgate.encoders import get_encoder
from lvmgate.errors import InputError
from lvmgate.io import atomic_open, write_npy
from lvmgate.tmd import N_DOMAINS

FAULTS: dict[str, str] = {
    "shuffled_order": "chunk order lost inside each article (article ids kept, chunk_index renumbered)",
    "global_shuffle": "vectors permuted across the whole corpus (text and ids kept)",
    "constant_position": "every chunk_index written as 0 and rows of an article in arbitrary order",
    "cross_article": "article ids lost: groups of 4 articles merged under one id, chunk_index colliding",
    "zero_vectors": "5% of rows have all-zero vectors (failed embedding batches)",
    "nan_vectors": "5% of rows have NaN vectors",
    "duplicate_chunks": "10% of chunks written twice in a row (re-ingested batches)",
    "tmd_fallback_flood": "60% of articles tagged with the fallback domain code 0",
    "tmd_single_domain": "every row tagged with one placeholder domain (code 1)",
    "truncated_chunks": "70% of chunks cut mid-sentence",
    "bad_lengths": "30% of chunks under 50 or over 1000 characters",
    "low_coherence": "consecutive chunks unrelated (words drawn from anywhere in the corpus)",
    "encoder_mismatch": "vectors from a different encoder (another hashing salt) than the one declared",
}

_FUNCTION_SENTENCES_ABBR = ("Dr.", "Prof.", "St.", "Mr.", "Mrs.")
_TEMPLATES = (
    "The {a} of the {b} {c} was first described in {year} by {name}, with the {d} and {e}.",
    "In {year}, {abbr} {surname} reported that {a} {b} and {c} {d} had grown by {num} percent.",
    "Its {a} {b} lies {num} km from the {c}, near the {d} {e}.",
    "According to {name}, the {a} {b} remained {adj} until the {c} {d} of {year}.",
    "Several {a}s, e.g. the {b} {c} and the {d}, were studied in the U.S. with {e}.",
    '{surname} called the {a} "a {adj} {b} of {c} and {d}."',
    "The {a} ({b}) is closely related to the {c} {d}, which measures about {num} m.",
    'Critics described the {a} {b} as "{adj} and {c}," noting its {d} {e}.',
    "Between {year} and {year2}, the {a} of the {b} {c} changed approx. {num} times.",
    "The {a} {b} led to a new {c}, and the {d} {e} followed in {year}.",
    "Most {a}s depend on the {b} {c}; some, i.e. the {d} ones, also need {e}.",
    "{name} later argued that the {a} {b} could not explain the {c} {d}.",
    "The {a} was named after {abbr} {surname}, who studied the {b} {c} and {d}.",
    "By {year} the {a} {b} covered {num} sq. km of {c} and {d} {e}.",
    "It was the {a} {b} of the {c}, and the {d} {e} was kept there.",
    "Why the {a} {b} declined is unclear, but the {c} and the {d} {e} are usual explanations.",
)
_ADJ = (
    "important",
    "early",
    "modern",
    "large",
    "small",
    "central",
    "notable",
    "rare",
    "common",
    "ancient",
    "regional",
    "national",
    "major",
    "minor",
    "complex",
    "simple",
    "unusual",
    "typical",
)


@dataclass(frozen=True)
class SynthParams:
    n_articles: int = 200
    dim: int = 768
    seed: int = 0
    coherence: float = 0.9
    drift: int = 1
    window: int = 4
    core_share: float = 0.6
    mean_chunks: float = 20.0
    encoder: str = "hashing"
    fault: str | None = None


@dataclass
class SynthCorpus:
    records: list[ChunkRecord]
    vectors: np.ndarray  # (N, dim) float32, aligned with records
    meta: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# vocabulary: pronounceable pseudo-words, fixed across seeds so corpora of different seeds share it

_ONSETS = (
    "b",
    "c",
    "d",
    "f",
    "g",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "br",
    "cr",
    "dr",
    "st",
    "tr",
    "pl",
    "gr",
    "th",
    "sh",
    "ch",
)
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ei", "ou", "ia")
_CODAS = ("", "n", "r", "s", "l", "m", "t", "x", "nd", "rt", "st")


def _vocabulary(n_per_domain: int = 400) -> tuple[list[list[str]], list[str], list[str]]:
    rng = np.random.default_rng(20251015)
    seen: set[str] = set()

    def word(syllables: int) -> str:
        while True:
            w = "".join(
                rng.choice(_ONSETS) + rng.choice(_VOWELS) + (rng.choice(_CODAS) if i == syllables - 1 else "")
                for i in range(syllables)
            )
            if w not in seen and len(w) >= 4:
                seen.add(w)
                return w

    domains = [[word(int(rng.integers(2, 4))) for _ in range(n_per_domain)] for _ in range(N_DOMAINS)]
    surnames = [word(int(rng.integers(2, 4))).capitalize() for _ in range(300)]
    places = [word(int(rng.integers(2, 4))).capitalize() for _ in range(200)]
    return domains, surnames, places


_VOCAB_CACHE: tuple[list[list[str]], list[str], list[str]] | None = None


def vocabulary() -> tuple[list[list[str]], list[str], list[str]]:
    """(per-domain ordered content words, surnames, places); deterministic."""
    global _VOCAB_CACHE
    if _VOCAB_CACHE is None:
        _VOCAB_CACHE = _vocabulary()
    return _VOCAB_CACHE


# a realistic spread of domains: a few large, a long tail; code 0 (fallback) modest
_DOMAIN_WEIGHTS = np.array([9, 5, 14, 8, 10, 4, 3, 13, 9, 6, 6, 3, 5, 2, 2, 1], dtype=float)


# --------------------------------------------------------------------------------------------------
class _Writer:
    """Generates one article's chunks."""

    def __init__(self, rng: np.random.Generator, params: SynthParams):
        self.rng, self.p = rng, params
        self.domains, self.surnames, self.places = vocabulary()

    def _pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def _content_word(self, domain: int, core: list[str], pos: float, *, unrelated: bool) -> str:
        rng, p = self.rng, self.p
        if unrelated:
            return self._pick(self.domains[int(rng.integers(N_DOMAINS))])
        u = rng.random()
        vocab = self.domains[domain]
        if u < p.coherence * p.core_share:
            return self._pick(core)
        if u < p.coherence:
            k = int(pos + rng.integers(p.window))
            return vocab[k % len(vocab)]
        return self._pick(self.domains[int(rng.integers(N_DOMAINS))])

    def sentence(self, domain: int, core: list[str], pos: float, *, unrelated: bool = False) -> str:
        rng = self.rng
        template = self._pick(_TEMPLATES)
        words = {
            k: self._content_word(domain, core, pos, unrelated=unrelated) for k in ("a", "b", "c", "d", "e")
        }
        year = int(rng.integers(1700, 2020))
        surname = self._pick(self.surnames)
        initials = "".join(f"{chr(65 + int(rng.integers(26)))}. " for _ in range(int(rng.integers(1, 3))))
        fields = {
            **words,
            "adj": self._pick(_ADJ),
            "adj2": self._pick(_ADJ),
            "year": year,
            "year2": year + int(rng.integers(1, 40)),
            "num": f"{rng.uniform(0.5, 99):.1f}",
            "surname": surname,
            "name": f"{initials}{surname}",
            "abbr": self._pick(_FUNCTION_SENTENCES_ABBR),
            "place": self._pick(self.places),
        }
        text = template.format(**fields)
        return text[0].upper() + text[1:]

    def article(self, index: int) -> tuple[str, int, list[str], list[str]]:
        """(title, domain, chunk texts, words of the title) for one article."""
        rng, p = self.rng, self.p
        domain = int(rng.choice(N_DOMAINS, p=_DOMAIN_WEIGHTS / _DOMAIN_WEIGHTS.sum()))
        vocab = self.domains[domain]
        core = [self._pick(vocab) for _ in range(4)]
        title = " ".join(w.capitalize() for w in core[:2])
        n_chunks = int(np.clip(round(rng.lognormal(np.log(p.mean_chunks * 0.85), 0.55)), 3, 150))
        start = float(rng.integers(len(vocab)))
        chunks = []
        unrelated = p.fault == "low_coherence"
        for i in range(n_chunks):
            pos = start + i * p.drift
            target = float(np.clip(rng.normal(330, 55), 220, 520))
            sentences: list[str] = []
            length = 0
            while length < target or not sentences:
                s = self.sentence(domain, core, pos, unrelated=unrelated)
                sentences.append(s)
                length += len(s) + 1
            text = " ".join(sentences)
            if len(text) > 950:  # keep clean chunks inside the plan's 50-1000 character bounds
                text = " ".join(sentences[:-1]) if len(sentences) > 1 else text[:900].rsplit(" ", 1)[0] + "."
            if rng.random() < 0.03:  # a few chunks end mid-sentence, as real chunkers do
                text = _cut_mid_sentence(text, rng)
            chunks.append(text)
        return title, domain, chunks, core


def _cut_mid_sentence(text: str, rng: np.random.Generator) -> str:
    """Cut the text inside its last sentence, at a word boundary, without terminal punctuation."""
    words = text.split(" ")
    if len(words) < 6:
        return text.rstrip(".!?\"'") + " and"
    cut = int(rng.integers(max(3, len(words) // 2), len(words) - 1))
    return " ".join(words[:cut]).rstrip(".,;:!?\"'()")


# --------------------------------------------------------------------------------------------------
def synthesize(
    n_articles: int = 200,
    *,
    fault: str | None = None,
    seed: int = 0,
    dim: int = 768,
    coherence: float = 0.9,
    drift: int = 1,
    window: int = 4,
    core_share: float = 0.6,
    mean_chunks: float = 20.0,
    encoder: str = "hashing",
    fault_fraction: float | None = None,
    learnable: bool = False,
) -> SynthCorpus:
    """Generate a corpus (records + vectors) deterministically for `seed`, with one optional fault.
    `learnable`: the articles of `lvmgate.synth.learnable` (a next chunk a model can learn from its
    context; `coherence`, `drift`, `window`, `core_share` and `mean_chunks` do not apply), so that a
    trained LVM can pass phase 2 end to end; every fault applies as usual (`shuffled_order` removes
    the learnable transition)."""
    if fault is not None and fault not in FAULTS:
        raise InputError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")
    if n_articles < 1:
        raise InputError("--articles must be at least 1")
    if not 0.0 <= coherence <= 1.0:
        raise InputError("coherence must be in [0, 1]")
    params = SynthParams(
        n_articles, dim, seed, coherence, drift, window, core_share, mean_chunks, encoder, fault
    )
    rng = np.random.default_rng(seed)
    articles: list[tuple[str, str, int, list[str]]] = []
    if learnable:
        from lvmgate.synth.learnable import drift_articles  # the package's own generator of that corpus

        drift = drift_articles(n_articles, seed=seed)
        articles = [(aid, title, domain, texts) for aid, title, domain, texts, _task, _mod in drift]
    else:
        writer = _Writer(rng, params)
        width = len(str(n_articles))
        for a in range(n_articles):
            title, domain, chunks, _core = writer.article(a)
            articles.append((f"wiki-{a:0{width}d}", title, domain, chunks))

    frng = np.random.default_rng([seed, 7])  # fault randomness, separate from the clean corpus
    texts_fn = _FAULT_TEXT.get(fault or "")
    if texts_fn is not None:
        articles = texts_fn(articles, frng, fault_fraction)

    records: list[ChunkRecord] = []
    for aid, title, domain, chunks in articles:
        task = int(rng.integers(32))
        for i, text in enumerate(chunks):
            records.append(ChunkRecord(aid, i, text, title, domain, task, int(rng.integers(64)), "synthetic"))
    enc = get_encoder(encoder, dim=dim) if encoder.startswith("hashing") else get_encoder(encoder)
    declared = enc.spec
    if fault == "encoder_mismatch":
        enc = get_encoder("hashing", dim=dim, salt="mismatched-encoder")
    vectors = enc.encode([r.text for r in records])
    records, vectors = _FAULT_ROWS.get(fault or "", _identity)(records, vectors, frng, fault_fraction)
    meta = {
        "generator": "lvmgate.synth" + (" (learnable: lvmgate.synth.learnable)" if learnable else ""),
        "encoder": declared,
        "dim": int(vectors.shape[1]),
        "n_articles": len({r.article_id for r in records}),
        "n_chunks": len(records),
        "fault": fault,
        "fault_description": FAULTS.get(fault or ""),
        "params": {**params.__dict__, "learnable": learnable},
    }
    return SynthCorpus(records, np.ascontiguousarray(vectors, dtype=np.float32), meta)


def _identity(records, vectors, rng, frac):
    return records, vectors


# --- faults acting on texts (before encoding, so vectors stay consistent with text) ---------------
def _truncate(articles, rng, frac):
    frac = 0.7 if frac is None else frac
    out = []
    for aid, title, domain, chunks in articles:
        cut = [(_cut_mid_sentence(t, rng) if rng.random() < frac else t) for t in chunks]
        out.append((aid, title, domain, cut))
    return out


def _bad_lengths(articles, rng, frac):
    frac = 0.3 if frac is None else frac
    out = []
    for aid, title, domain, chunks in articles:
        new = []
        for i, t in enumerate(chunks):
            u = rng.random()
            if u < frac / 2:  # a stub: a heading-like fragment under 50 characters, still with content
                words = [w for w in t.split(" ") if len(w) > 3][: int(rng.integers(2, 5))]
                new.append(" ".join(words)[:45].rstrip(".,") + ".")
            elif u < frac:  # an over-long chunk: neighbours glued on past 1000 characters
                more = " ".join(chunks[(i + k) % len(chunks)] for k in range(1, 5))
                new.append((t + " " + more)[: int(rng.integers(1050, 1600))].rsplit(" ", 1)[0] + ".")
            else:
                new.append(t)
        out.append((aid, title, domain, new))
    return out


_FAULT_TEXT = {"truncated_chunks": _truncate, "bad_lengths": _bad_lengths}


# --- faults acting on rows and vectors -----------------------------------------------------------
def _group_rows(records: list[ChunkRecord]) -> list[np.ndarray]:
    bounds = [0] + [i for i in range(1, len(records)) if records[i].article_id != records[i - 1].article_id]
    bounds.append(len(records))
    return [np.arange(bounds[j], bounds[j + 1]) for j in range(len(bounds) - 1)]


def _renumber(records: list[ChunkRecord], order: np.ndarray, *, index_from_order: bool = True):
    out, counters = [], {}
    for k in order:
        r = records[int(k)]
        i = counters.get(r.article_id, 0)
        counters[r.article_id] = i + 1
        out.append(_replace(r, chunk_index=i if index_from_order else r.chunk_index))
    return out


def _replace(r: ChunkRecord, **changes) -> ChunkRecord:
    data = {f: getattr(r, f) for f in ChunkRecord.__slots__}
    data.update(changes)
    return ChunkRecord(**data)


def _shuffled_order(records, vectors, rng, frac):
    order = np.concatenate([rng.permutation(g) for g in _group_rows(records)])
    return _renumber(records, order), vectors[order]


def _constant_position(records, vectors, rng, frac):
    order = np.concatenate([rng.permutation(g) for g in _group_rows(records)])
    return [_replace(records[int(k)], chunk_index=0) for k in order], vectors[order]


def _cross_article(records, vectors, rng, frac):
    groups = _group_rows(records)
    merged_id = {}
    for j, g in enumerate(groups):
        merged_id[records[int(g[0])].article_id] = records[int(groups[j - j % 4][0])].article_id
    return [_replace(r, article_id=merged_id[r.article_id]) for r in records], vectors


def _global_shuffle(records, vectors, rng, frac):
    return records, vectors[rng.permutation(len(vectors))]


def _bad_vectors(value: float):
    def fault(records, vectors, rng, frac):
        frac = 0.05 if frac is None else frac
        vectors = vectors.copy()
        rows = rng.choice(len(vectors), size=max(1, round(frac * len(vectors))), replace=False)
        vectors[rows] = value
        return records, vectors

    return fault


def _duplicates(records, vectors, rng, frac):
    frac = 0.1 if frac is None else frac
    order = []
    for k in range(len(records)):
        order.append(k)
        if rng.random() < frac:
            order.append(k)
    order = np.asarray(order)
    return _renumber(records, order), vectors[order]


def _tmd_flood(records, vectors, rng, frac):
    frac = 0.6 if frac is None else frac
    flooded = {
        g: rng.random() < frac for g in sorted({r.article_id for r in records})
    }  # sorted: sets vary by process
    return [
        _replace(r, domain_code=0, task_code=0, modifier_code=0) if flooded[r.article_id] else r
        for r in records
    ], vectors


def _tmd_single(records, vectors, rng, frac):
    return [_replace(r, domain_code=1) for r in records], vectors


_FAULT_ROWS = {
    "shuffled_order": _shuffled_order,
    "global_shuffle": _global_shuffle,
    "constant_position": _constant_position,
    "cross_article": _cross_article,
    "zero_vectors": _bad_vectors(0.0),
    "nan_vectors": _bad_vectors(float("nan")),
    "duplicate_chunks": _duplicates,
    "tmd_fallback_flood": _tmd_flood,
    "tmd_single_domain": _tmd_single,
}


def write_corpus(corpus: SynthCorpus, out_dir: str | os.PathLike) -> Path:
    """Write DIR/chunks.jsonl, DIR/vectors.npy and DIR/meta.json, each atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_records(out / "chunks.jsonl", corpus.records)
    write_npy(out / "vectors.npy", corpus.vectors)
    with atomic_open(out / "meta.json", "w", encoding="utf-8") as fh:
        json.dump(corpus.meta, fh, indent=2)
    return out
