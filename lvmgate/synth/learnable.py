"""A synthetic corpus whose next chunk can be learned from its context, for training tests and demos.

`lvmgate.synth` corpora have order signal: neighbours are closer than chunks further apart. The new
content of a next chunk there is a walk along a 400-word vocabulary per domain, which a model cannot
learn from a few thousand windows. On them the context mean beats every learned predictor,
reproducing the real project's result (measured in docs/training.md). To show that a model which
does learn the sequence passes gate 2.2, this corpus makes the next chunk predictable.

Each domain has a short cycle of `cycle` topic words. Chunk i of an article covers the `topic_words`
consecutive cycle positions starting at start + i * step, so each chunk brings `step` new words.
Those words follow the previous chunk's words on the domain's cycle: a fixed transition a model can
learn. Every chunk also has `core_words` words of its article and `filler_words` random names,
which are unpredictable. Text is made of stop-word templates around those words, and vectors are
the hashing encoder's, so text and vectors agree as in `lvmgate.synth` (same `SynthCorpus` type,
same records). `shuffled=True` permutes the chunks inside every article and renumbers them. The
transition is then gone while words, articles and vectors stay: a model trained on it has nothing
sequential to learn.
"""

from __future__ import annotations

import numpy as np

from lvmgate.corpus import ChunkRecord
from lvmgate.encoders import get_encoder
from lvmgate.errors import InputError
from lvmgate.synth import SynthCorpus, vocabulary
from lvmgate.tmd import N_DOMAINS

# stop-word frames (the hashing encoder drops every word in them), by number of slots
_FRAMES = {
    1: ("It was {}.", "There was {}.", "This was the {}."),
    2: ("The {} and the {}.", "It was {} with {}.", "The {} of the {}."),
    3: ("The {} and the {} were of {}.", "It was {} from {} to {}.", "Both {} and {} were with {}."),
}


def _text(words: list[str], rng: np.random.Generator) -> str:
    """Words in a random order, wrapped in stop-word sentences of 1-3 slots."""
    words = [words[i] for i in rng.permutation(len(words))]
    out, i = [], 0
    while i < len(words):
        k = min(len(words) - i, int(rng.integers(1, 4)))
        frame = _FRAMES[k][int(rng.integers(len(_FRAMES[k])))]
        out.append(frame.format(*words[i : i + k]))
        i += k
    text = " ".join(out)
    return text[0].upper() + text[1:]


def drift_articles(
    n_articles: int = 300,
    *,
    seed: int = 0,
    cycle: int = 24,
    topic_words: int = 4,
    step: int = 2,
    topic_repeat: int = 2,
    core_words: int = 2,
    filler_words: int = 6,
    mean_chunks: float = 17.0,
    shuffled: bool = False,
) -> list[tuple[str, str, int, list[str], int, int]]:
    """The corpus's articles as (article_id, title, domain, chunk texts, task, modifier); deterministic."""
    if n_articles < 1:
        raise InputError("n_articles must be at least 1")
    domains, surnames, places = vocabulary()
    if not 1 <= step <= topic_words <= cycle or cycle + core_words > len(domains[0]):
        raise InputError("need 1 <= step <= topic_words <= cycle, and cycle + core words within a domain")
    rng = np.random.default_rng([seed, 101])
    order_rng = np.random.default_rng([seed, 102])  # shuffling never changes the texts drawn
    names = surnames + places
    width = len(str(n_articles))
    articles = []
    for a in range(n_articles):
        domain = int(rng.integers(N_DOMAINS))
        vocab = domains[domain]
        cyc = vocab[:cycle]  # the domain's ordered topic cycle
        core = [vocab[cycle + int(rng.integers(len(vocab) - cycle))] for _ in range(core_words)]
        start = int(rng.integers(cycle))
        n_chunks = int(np.clip(round(rng.lognormal(np.log(mean_chunks), 0.4)), 8, 80))
        texts = []
        for i in range(n_chunks):
            topic = [cyc[(start + i * step + j) % cycle] for j in range(topic_words)]
            filler = [names[int(rng.integers(len(names)))] for _ in range(filler_words)]
            texts.append(_text(topic * topic_repeat + core + filler, rng))
        if shuffled:
            texts = [texts[j] for j in order_rng.permutation(n_chunks)]
        title = " ".join(w.capitalize() for w in core[:2]) or f"Article {a}"
        task, modifier = int(rng.integers(32)), int(rng.integers(64))
        articles.append((f"drift-{a:0{width}d}", title, domain, texts, task, modifier))
    return articles


def drift_corpus(
    n_articles: int = 300,
    *,
    seed: int = 0,
    dim: int = 768,
    shuffled: bool = False,
    **shape: float,
) -> SynthCorpus:
    """A corpus with a learnable next-chunk transition (see module docstring); deterministic per seed.
    `shape`: cycle, topic_words, step, topic_repeat, core_words, filler_words, mean_chunks."""
    articles = drift_articles(n_articles, seed=seed, shuffled=shuffled, **shape)
    records = [
        ChunkRecord(aid, i, text, title, domain, task, modifier, "synthetic-drift")
        for aid, title, domain, texts, task, modifier in articles
        for i, text in enumerate(texts)
    ]
    encoder = get_encoder("hashing", dim=dim)
    vectors = encoder.encode([r.text for r in records])
    params = dict(DRIFT_SHAPE, **shape)
    meta = {
        "generator": "lvmgate.synth.learnable.drift_corpus",
        "encoder": encoder.spec,
        "dim": dim,
        "n_articles": n_articles,
        "n_chunks": len(records),
        "fault": "shuffled_order" if shuffled else None,
        "params": {"seed": seed, **params, "shuffled": shuffled},
    }
    return SynthCorpus(records, np.ascontiguousarray(vectors, dtype=np.float32), meta)


DRIFT_SHAPE = {"cycle": 24, "topic_words": 4, "step": 2, "topic_repeat": 2, "core_words": 2, "filler_words": 6,
               "mean_chunks": 17.0}  # fmt: skip
