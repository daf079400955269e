"""3CosAdd over a fixed vocabulary in an encoder space and in a learned space (an LVM's, via
predictor_space): top-1 / top-3 with bootstrap intervals beside the chance line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lvmgate.arithmetic.analogies import MIN_VOCAB, Analogy, build_vocabulary, builtin_analogies
from lvmgate.errors import InputError
from lvmgate.results import Estimate, Result
from lvmgate.stats import DEFAULT_RESAMPLES, bootstrap_mean

SpaceMap = Callable[[np.ndarray], np.ndarray]  # (n, D) encoder vectors -> (n, D') learned-space vectors


@dataclass(frozen=True)
class CategoryResult(Result):
    n: int
    top1: Estimate
    top3: Estimate


@dataclass(frozen=True)
class SpaceResult(Result):
    """Analogy accuracy in one vector space, against the whole vocabulary minus the three inputs."""

    space: str
    dim: int
    n_analogies: int
    vocab_size: int
    top1: Estimate
    top3: Estimate
    chance_top1: float  # 1 / (V - 3)
    chance_top3: float  # 3 / (V - 3)
    mean_rank: float  # mean rank of the answer (1 = best)
    per_category: dict[str, CategoryResult]
    examples: list[dict[str, Any]] = field(default_factory=list)  # a few misses, for reading


@dataclass(frozen=True)
class ArithmeticReport(Result):
    """The 2.4 artifact: the same analogies and vocabulary in each space."""

    encoder: str
    vocab_size: int
    vocab_source: str
    analogy_source: str
    n_analogies: int
    n_skipped: int  # analogies whose four words are not all distinct
    spaces: dict[str, SpaceResult]
    provenance: dict[str, Any] = field(default_factory=dict)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def analogy_ranks(vectors: np.ndarray, idx: np.ndarray, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """3CosAdd over the vocabulary: (rank of d (Q,) 1-based, top-3 candidates (Q, 3)).

    `vectors` (V, D) in vocabulary order, `idx` (Q, 4) word numbers of a, b, c, d. The three
    inputs are excluded; ties are broken towards the lower word number (counted against d).
    """
    e = _unit(vectors)  # (V, D)
    n_vocab = e.shape[0]
    idx = np.asarray(idx, dtype=np.int64)
    ranks = np.empty(len(idx), dtype=np.int64)
    top3 = np.empty((len(idx), 3), dtype=np.int64)
    for lo in range(0, len(idx), block):
        part = idx[lo : lo + block]
        q = e[part[:, 0]] - e[part[:, 1]] + e[part[:, 2]]  # (b, D)
        s = q @ e.T  # (b, V)
        rows = np.arange(len(part))
        for j in range(3):
            s[rows, part[:, j]] = -np.inf
        sd = s[rows, part[:, 3]]  # (b,)
        word = np.arange(n_vocab)
        better = (s > sd[:, None]) | ((s == sd[:, None]) & (word[None, :] < part[:, 3:4]))
        ranks[lo : lo + len(part)] = better.sum(axis=1) + 1
        order = np.lexsort((np.broadcast_to(word, s.shape), -s), axis=1)[:, :3]
        top3[lo : lo + len(part)] = order
    return ranks, top3


def evaluate_space(
    vectors: np.ndarray,
    vocab: Sequence[str],
    analogies: Sequence[Analogy],
    *,
    name: str = "encoder",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    n_examples: int = 10,
) -> SpaceResult:
    """Top-1 / top-3 accuracy of 3CosAdd in the space of `vectors` (V, D), rows aligned with `vocab`."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] != len(vocab):
        raise InputError(f"space {name!r}: expected ({len(vocab)}, D) vectors, got shape {vectors.shape}")
    if not np.all(np.isfinite(vectors)):
        raise InputError(f"space {name!r}: vectors contain NaN or inf")
    pos = {w.casefold(): i for i, w in enumerate(vocab)}
    try:
        idx = np.array([[pos[w.casefold()] for w in an.words] for an in analogies], dtype=np.int64)
    except KeyError as exc:
        raise InputError(f"space {name!r}: analogy word {exc.args[0]!r} is not in the vocabulary") from None
    if len(idx) == 0:
        raise InputError("no analogies to evaluate")
    ranks, top3 = analogy_ranks(vectors, idx)
    hit1 = (ranks <= 1).astype(np.float64)
    hit3 = (ranks <= 3).astype(np.float64)
    v = len(vocab)
    cats: dict[str, list[int]] = {}
    for i, an in enumerate(analogies):
        cats.setdefault(an.category, []).append(i)
    per_cat = {}
    for j, (cat, members) in enumerate(cats.items()):
        m = np.asarray(members)
        per_cat[cat] = CategoryResult(
            len(m),
            bootstrap_mean(hit1[m], resamples=resamples, seed=seed + 2 * j + 1),
            bootstrap_mean(hit3[m], resamples=resamples, seed=seed + 2 * j + 2),
        )
    examples = [
        {
            "analogy": str(analogies[i]),
            "category": analogies[i].category,
            "rank": int(ranks[i]),
            "top3": [vocab[t] for t in top3[i]],
        }
        for i in np.flatnonzero(ranks > 3)[:n_examples]
    ]
    return SpaceResult(
        space=name,
        dim=int(vectors.shape[1]),
        n_analogies=len(idx),
        vocab_size=v,
        top1=bootstrap_mean(hit1, resamples=resamples, seed=seed),
        top3=bootstrap_mean(hit3, resamples=resamples, seed=seed + 1000),
        chance_top1=1.0 / (v - 3),
        chance_top3=3.0 / (v - 3),
        mean_rank=float(ranks.mean()),
        per_category=per_cat,
        examples=examples,
    )


def predictor_space(predictor: Any, context_window: int = 5) -> SpaceMap:
    """A learned-space map from an LVM: each word vector repeated `context_window` times as the
    context, the prediction (B, D) as the word's image. copy_last / context_mean give the identity."""
    from lvmgate.lvm.predictor import as_predictor, check_prediction

    w = int(context_window)
    if w < 1:
        raise InputError(f"context window must be at least 1, got {w}")
    predictor = as_predictor(predictor)  # plain functions (B, w, D) -> (B, D) work too
    name = predictor.name

    def space(vectors: np.ndarray) -> np.ndarray:
        v = np.asarray(vectors, dtype=np.float32)
        ctx = np.repeat(v[:, None, :], w, axis=1)  # (n, w, D)
        return check_prediction(predictor.predict(ctx), len(v), v.shape[1], name)

    return space


def random_lookup_space(dim: int = 384, seed: int = 0) -> SpaceMap:
    """An untrained lookup: each distinct input vector gets an independent random vector.

    Destroys every relation between words: analogy accuracy falls to chance. (A random *linear*
    map would not: it nearly preserves angles.)
    """
    import hashlib

    def space(vectors: np.ndarray) -> np.ndarray:
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        out = np.empty((len(v), dim), dtype=np.float32)
        for i, row in enumerate(v):
            h = int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little")
            out[i] = np.random.default_rng([seed, h]).standard_normal(dim)
        return out

    return space


def vector_arithmetic(
    encoder: Any = "minilm",
    analogies: Sequence[Analogy] | None = None,
    *,
    vocab_size: int = MIN_VOCAB,
    space: SpaceMap | None = None,
    space_name: str = "lvm",
    analogy_source: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    batch_size: int = 256,
) -> ArithmeticReport:
    """Encode the vocabulary once, evaluate the analogies in the encoder space and, given `space`,
    in the learned space too. `encoder` is an Encoder or a name for lvmgate.encoders.get_encoder."""
    from lvmgate.encoders import get_encoder

    if int(vocab_size) < MIN_VOCAB:
        raise InputError(f"the vocabulary must have at least {MIN_VOCAB} words (got {vocab_size})")
    enc = get_encoder(encoder) if isinstance(encoder, str) else encoder
    given = builtin_analogies() if analogies is None else list(analogies)
    usable = [an for an in given if len({w.casefold() for w in an.words}) == 4]
    if not usable:
        raise InputError("no analogy has four distinct words")
    vocab = build_vocabulary(usable, int(vocab_size))
    vectors = np.asarray(enc.encode(vocab, batch_size=batch_size), dtype=np.float32)  # (V, D)
    spaces = {
        "encoder": evaluate_space(vectors, vocab, usable, name="encoder", resamples=resamples, seed=seed)
    }
    if space is not None:
        try:
            mapped = np.asarray(space(vectors))
        except InputError:
            raise
        except Exception as exc:  # the hook is user code: say which step failed
            raise InputError(
                f"the {space_name} space map failed on ({len(vocab)}, {vectors.shape[1]}) "
                f"{getattr(enc, 'spec', enc)} vectors: {exc}"
            ) from exc
        spaces[space_name] = evaluate_space(
            mapped, vocab, usable, name=space_name, resamples=resamples, seed=seed
        )
    n_analogy_words = len({w.casefold() for an in usable for w in an.words})
    return ArithmeticReport(
        encoder=str(getattr(enc, "spec", encoder)),
        vocab_size=len(vocab),
        vocab_source=(
            f"{n_analogy_words} analogy words + {len(vocab) - n_analogy_words} filler words "
            "(frequent bert-base-uncased WordPiece words, lvmgate.arithmetic.FILLER_WORDS)"
        ),
        analogy_source=analogy_source or ("built-in" if analogies is None else "given"),
        n_analogies=len(usable),
        n_skipped=len(given) - len(usable),
        spaces=spaces,
    )
