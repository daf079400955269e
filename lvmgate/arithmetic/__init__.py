"""Plan 2.4: semantic vector arithmetic, a - b + c ~ d, in an encoder space and in a learned space.

    report = vector_arithmetic("minilm", vocab_size=1000)                      # encoder space only
    report = vector_arithmetic("gtr", space=predictor_space(lvm, 5))           # + the LVM's space
    report.spaces["lvm"].top3                                                  # Estimate

Each analogy ("Paris" - "France" + "Italy" ~ "Rome") is answered by 3CosAdd: the candidate whose
unit vector has the highest cosine with unit(a) - unit(b) + unit(c), among a fixed vocabulary of
at least 1,000 words with the three inputs excluded. Top-1 / top-3 accuracy over all analogies
and per category, with bootstrap intervals, beside the chance line k / (V - 3).

The learned space is a hook: any callable mapping (n, D) encoder vectors of words to (n, D')
vectors (`space=`); `predictor_space(predictor, w)` makes one from an LVM (each word's vector
repeated w times as the context, the prediction as the word's image). Note that any map that
preserves geometry (a rotation, a random linear projection) preserves analogies too: the question
the learned space answers is whether the LVM kept the encoder's structure, compared with the
encoder space's own numbers, not whether it beats chance.

Vocabulary: every analogy word, then filler words up to `vocab_size`: the first frequent whole
words of the bert-base-uncased WordPiece vocabulary (the tokenizer shipped with all-MiniLM-L6-v2),
in its order, stopwords, contraction stems and words under 4 letters removed; 1,400 of them are
frozen in this module (FILLER_WORDS), so nothing is read from disk or the network. Words are
identified case-insensitively; a word is encoded in the form it first appears.
Analogy files use the Google format (questions-words.txt): `: section` headers, then lines of four
words `w1 w2 w3 w4` meaning w1 : w2 :: w3 : w4, read here as w2 - w1 + w3 ~ w4."""

from lvmgate.arithmetic.analogies import (
    FILLER_WORDS,
    MIN_VOCAB,
    PLAN_ANALOGIES,
    RELATION_PAIRS,
    Analogy,
    build_vocabulary,
    builtin_analogies,
    pair_analogies,
    parse_analogies,
    read_analogies,
)
from lvmgate.arithmetic.gate import arithmetic_gate
from lvmgate.arithmetic.space import (
    ArithmeticReport,
    CategoryResult,
    SpaceMap,
    SpaceResult,
    analogy_ranks,
    evaluate_space,
    predictor_space,
    random_lookup_space,
    vector_arithmetic,
)

__all__ = [
    "FILLER_WORDS",
    "MIN_VOCAB",
    "PLAN_ANALOGIES",
    "RELATION_PAIRS",
    "Analogy",
    "ArithmeticReport",
    "CategoryResult",
    "SpaceMap",
    "SpaceResult",
    "analogy_ranks",
    "arithmetic_gate",
    "build_vocabulary",
    "builtin_analogies",
    "evaluate_space",
    "pair_analogies",
    "parse_analogies",
    "predictor_space",
    "random_lookup_space",
    "read_analogies",
    "vector_arithmetic",
]
