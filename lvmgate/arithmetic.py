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
words `w1 w2 w3 w4` meaning w1 : w2 :: w3 : w4, read here as w2 - w1 + w3 ~ w4.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.results import Estimate, Result
from lvmgate.stats import DEFAULT_RESAMPLES, bootstrap_mean

SpaceMap = Callable[[np.ndarray], np.ndarray]  # (n, D) encoder vectors -> (n, D') learned-space vectors
MIN_VOCAB = 1000


@dataclass(frozen=True)
class Analogy:
    """a - b + c ~ d, in `category`."""

    a: str
    b: str
    c: str
    d: str
    category: str = "custom"

    @property
    def words(self) -> tuple[str, str, str, str]:
        return (self.a, self.b, self.c, self.d)

    def __str__(self) -> str:
        return f"{self.a} - {self.b} + {self.c} ~ {self.d}"


# The plan's three cases, verbatim.
PLAN_ANALOGIES = (
    Analogy("Paris", "France", "Italy", "Rome", "plan"),
    Analogy("King", "Man", "Woman", "Queen", "plan"),
    Analogy("Walking", "Walk", "Swim", "Swimming", "plan"),
)

# fmt: off
# Relation pairs (x, y); every ordered pair of pairs (i, j), i != j, gives y_i - x_i + x_j ~ y_j.
RELATION_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "capital-country": (
        ("France", "Paris"), ("Italy", "Rome"), ("Germany", "Berlin"), ("Spain", "Madrid"),
        ("Japan", "Tokyo"), ("China", "Beijing"), ("Russia", "Moscow"), ("Egypt", "Cairo"),
        ("Greece", "Athens"), ("Portugal", "Lisbon"), ("Austria", "Vienna"), ("Poland", "Warsaw"),
        ("Sweden", "Stockholm"), ("Norway", "Oslo"), ("Finland", "Helsinki"), ("Ireland", "Dublin"),
        ("Canada", "Ottawa"), ("Kenya", "Nairobi"), ("Thailand", "Bangkok"), ("Cuba", "Havana"),
        ("Peru", "Lima"), ("Hungary", "Budapest"), ("Denmark", "Copenhagen"), ("Turkey", "Ankara"),
    ),
    "nationality": (
        ("France", "French"), ("Germany", "German"), ("Italy", "Italian"), ("Spain", "Spanish"),
        ("China", "Chinese"), ("Japan", "Japanese"), ("Russia", "Russian"), ("Greece", "Greek"),
        ("Poland", "Polish"), ("Sweden", "Swedish"), ("Egypt", "Egyptian"), ("Canada", "Canadian"),
        ("Mexico", "Mexican"), ("Brazil", "Brazilian"), ("India", "Indian"), ("Ireland", "Irish"),
    ),
    "gender": (
        ("man", "woman"), ("king", "queen"), ("boy", "girl"), ("brother", "sister"),
        ("father", "mother"), ("son", "daughter"), ("husband", "wife"), ("uncle", "aunt"),
        ("nephew", "niece"), ("prince", "princess"), ("actor", "actress"), ("grandfather", "grandmother"),
        ("groom", "bride"), ("waiter", "waitress"), ("emperor", "empress"), ("god", "goddess"),
    ),
    "present-participle": (
        ("walk", "walking"), ("swim", "swimming"), ("run", "running"), ("read", "reading"),
        ("write", "writing"), ("sing", "singing"), ("dance", "dancing"), ("play", "playing"),
        ("jump", "jumping"), ("cook", "cooking"), ("sleep", "sleeping"), ("eat", "eating"),
        ("fly", "flying"), ("speak", "speaking"), ("think", "thinking"), ("listen", "listening"),
    ),
    "past-tense": (
        ("go", "went"), ("see", "saw"), ("take", "took"), ("give", "gave"), ("write", "wrote"),
        ("eat", "ate"), ("speak", "spoke"), ("run", "ran"), ("sing", "sang"), ("walk", "walked"),
        ("play", "played"), ("know", "knew"), ("begin", "began"), ("fall", "fell"), ("buy", "bought"),
        ("think", "thought"),
    ),
    "plural": (
        ("cat", "cats"), ("dog", "dogs"), ("car", "cars"), ("house", "houses"), ("child", "children"),
        ("mouse", "mice"), ("man", "men"), ("woman", "women"), ("city", "cities"), ("book", "books"),
        ("tree", "trees"), ("bird", "birds"), ("horse", "horses"), ("apple", "apples"),
        ("country", "countries"), ("foot", "feet"),
    ),
    "comparative": (
        ("big", "bigger"), ("small", "smaller"), ("fast", "faster"), ("slow", "slower"),
        ("good", "better"), ("bad", "worse"), ("strong", "stronger"), ("weak", "weaker"),
        ("old", "older"), ("young", "younger"), ("cold", "colder"), ("hot", "hotter"),
        ("tall", "taller"), ("long", "longer"), ("short", "shorter"), ("high", "higher"),
    ),
    "superlative": (
        ("big", "biggest"), ("small", "smallest"), ("fast", "fastest"), ("good", "best"),
        ("bad", "worst"), ("strong", "strongest"), ("old", "oldest"), ("young", "youngest"),
        ("cold", "coldest"), ("tall", "tallest"), ("high", "highest"), ("large", "largest"),
    ),
    "opposite": (
        ("possible", "impossible"), ("likely", "unlikely"), ("known", "unknown"), ("honest", "dishonest"),
        ("comfortable", "uncomfortable"), ("certain", "uncertain"), ("fair", "unfair"), ("aware", "unaware"),
        ("able", "unable"), ("pleasant", "unpleasant"), ("happy", "unhappy"), ("clear", "unclear"),
    ),
}
# fmt: on


def pair_analogies(pairs: dict[str, Sequence[tuple[str, str]]] = RELATION_PAIRS) -> list[Analogy]:
    """Every y_i - x_i + x_j ~ y_j (i != j) within each category of relation pairs."""
    out = []
    for cat, ps in pairs.items():
        for i, (xi, yi) in enumerate(ps):
            for j, (xj, yj) in enumerate(ps):
                if i != j:
                    out.append(Analogy(yi, xi, xj, yj, cat))
    return out


def builtin_analogies() -> list[Analogy]:
    """The plan's three cases, then every analogy from RELATION_PAIRS (about 2,000 in 10 categories)."""
    return [*PLAN_ANALOGIES, *pair_analogies()]


def parse_analogies(lines: Iterable[str], source: str = "<analogies>") -> list[Analogy]:
    """Google analogy format: `: section` headers, `w1 w2 w3 w4` lines read as w2 - w1 + w3 ~ w4.

    Blank lines and lines starting with `#` or `//` are skipped; anything else is an InputError
    naming the line.
    """
    out = []
    section = "default"
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("//"):
            continue
        if line.startswith(":"):
            section = line[1:].strip() or "default"
            continue
        words = line.split()
        if len(words) != 4:
            raise InputError(f"{source}:{lineno}: expected 4 words (w1 w2 w3 w4), got {len(words)}")
        w1, w2, w3, w4 = words
        out.append(Analogy(w2, w1, w3, w4, section))
    if not out:
        raise InputError(f"{source}: no analogies found")
    return out


def read_analogies(path: str | os.PathLike) -> list[Analogy]:
    """Analogies from a Google-format file (see `parse_analogies`)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return parse_analogies(fh, str(path))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from None


def build_vocabulary(
    analogies: Sequence[Analogy], size: int = MIN_VOCAB, filler: Sequence[str] | None = None
) -> list[str]:
    """Analogy words (first spelling of each, case-insensitive), then filler words up to `size`.

    If the analogies alone have more than `size` distinct words, all of them are kept (the
    vocabulary never drops an answer). Asking for more words than analogy + filler words is an error.
    """
    filler = FILLER_WORDS if filler is None else filler
    seen: dict[str, str] = {}
    for an in analogies:
        for w in an.words:
            seen.setdefault(w.casefold(), w)
    for w in filler:
        if len(seen) >= size:
            break
        seen.setdefault(w.casefold(), w)
    if len(seen) < size:
        raise InputError(
            f"vocabulary of {size} words asked, but analogies and filler give only {len(seen)} distinct words"
        )
    return list(seen.values())


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


# fmt: off
# 1,400 frequent whole words of the bert-base-uncased WordPiece vocabulary, in its order (see module doc).
FILLER_WORDS: tuple[str, ...] = tuple("""
    first time said like back made school years world well three year later city around used state
    people part know many second university national known even head team american born united film
    since still long work south became high family right eyes house season states including took life
    north called name much place however four group another found area going away series left home music
    best make hand number company several never last john album take good following released game played
    little began district want side held early county league west face think government march came small
    general town june line based something september thought looked along international july club went
    january october august april york east show member college father public come five station church
    next former november room party located december system love though every look song water century
    without body black night within great women single building large population river named band white
    started service built british open death king moved local times children february book door need
    president order final road although major died village third knew asked turned wanted together
    received main served different behind himself felt members power football voice play near park
    history mother army point front help english street late hands games award young published country
    division across told often ever french london center days include light find tell among species
    really according central half form original gave office making enough lost full opened must included
    live given german player business woman community might million land court development short round
    seen class story always become sure research almost director council career things using island
    close force better free support control field students education married nothing worked others
    record inside level anything continued give james military established returned feel title written
    thing feet william association hard already championship human western department hall role various
    production heart living fire version television royal produced working case society region present
    radio period looking least total keep england wife program brother mind special works soon political
    george services taken created able reached david union joined upon done important social information
    either appeared position ground lead rock dark election board france hair course arms site police
    girl instead real sound words moment someone summer project announced less wrote past followed blue
    founded finally india taking records america design considered northern stop battle toward european
    outside described track today playing language call heard professional australia miles california
    green trying blood southern science maybe everything match square mouth video race recorded leave
    daughter points space museum change middle common move post lake seven tried elected closed paul
    minister months start chief return canada person release similar modern brought rest formed floor
    event thomas robert care killed training star week needed turn finished railway rather news health
    sent example term michael coming currently forces despite gold areas stage fact dead says popular
    originally germany probably developed result pulled friend stood money running signed word songs
    child eventually tour average teams minutes festival current deep kind decided usually eastern
    seemed episode added table indian private charles route available idea throughout centre addition
    appointed style books eight construction press mean wall friends remained schools study institute
    chinese sometimes events possible australian type brown forward talk process food debut seat
    performance committee features character arts herself else strong russian range hours peter morning
    sold quickly directed guitar china list performed media players smile myself placed coach province
    towards leading whole official designed grand census europe attack japanese henry cross getting
    alone action lower network wide washington japan hospital believe changed sister hold gone ship
    studies academy shot rights base involved kept largest bank future especially beginning mark
    movement section female magazine plan professor lord longer walked hill actually civil energy model
    families size thus aircraft completed includes data captain fight vocals featured richard bridge
    fourth officer stone hear means medical groups management self lips competition entire lived
    technology leaving federal tournament passed independent awards kingdom mary spent fine reported
    jack fall raised stay true studio sports replaced paris systems saint leader theatre whose market
    capital parents spanish canadian earth degree writing christian awarded natural higher bill coast
    provided previous senior valley organization stopped onto countries parts conference queen security
    interest saying allowed master earlier phone matter smith winning happened moving campaign breath
    nearly certain girls date italian african standing fell artist shows deal mine industry everyone
    republic provide collection library student primary owned older heavy makes attention anyone africa
    stated length ended fingers command staff skin foreign opening governor okay medal kill cover
    introduced chest hell feeling success meet reason standard meeting novel trade source buildings rose
    goal chapter native husband previously unit limited entered weeks producer operations mountain takes
    covered forced related roman complete successful texas cold channel traditional films dance clear
    approximately nine prince question active tracks ireland regional silver author personal sense
    operation economic holding twenty isbn additional speed hour edition regular historic places shook
    movie secretary prior report chicago read foundation view engine scored units airport property ready
    immediately lady month listed contract manager themselves lines navy writer meant runs practice
    championships singer glass commission required forest starting culture generally giving access
    attended test couple stand catholic martin caught executive thinking chair quite shoulder hope
    decision plays defeated municipality whether structure offered slowly pain direction paper mission
    mostly noted individual managed nature lives plant helped except studied computer figure
    relationship issue significant loss smiled highest male bring goals mexico problem distance
    commercial completely location annual famous drive neck surface caused italy understand greek
    highway wrong hotel comes appearance joseph double issues musical companies castle income review
    assembly bass initially parliament artists experience particular walk foot engineering talking
    window dropped miss baby boys break stars edge remember policy carried train stadium angeles
    evidence becoming assistant soviet upper step wing youth financial reach actor numerous nodded
    arrived minute believed sorry complex beautiful victory associated temple chance perhaps metal
    bishop launched particularly tree retired subject prize contains yeah theory empire suddenly waiting
    trust recording happy terms camp champion religious pass zealand names port ancient corner
    represented watch legal anti justice cause watched brothers material changes simply response louis
    fast answer historical stories straight create feature increased rate administration virginia
    activities cultural overall winner programs basketball legs guard beyond cast doctor flight results
    remains cost effect winter larger islands problems chairman grew commander failed selected hurt fort
    regiment majority journal edward plans shown pretty irish characters directly scene likely operated
    allow spring junior matches looks mike houses fellow beach marriage rules florida expected nearby
    congress peace recent wait subsequently cell variety serving agreed please poor pacific attempt wood
    democratic piece prime rural mile touch appears township soldiers pennsylvania closer fighting
    claimed score jones physical editor filled genus specific sitting super therefore supported status
    fear cases store meaning wales minor spain tower focus vice frank follow parish separate golden
    horse fifth remaining branch presented stared uses secret forms baseball exactly choice note
    discovered travel composed truth russia ball color kiss wind continue ring referred numbers digital
    greater metres slightly direct increase responsible crew rule trees troops broke goes individuals
    hundred weight creek sleep memory defense provides ordered code value jewish windows safe judge
    whatever corps realized growing cities alexander gaze lies spread scott letter showed situation
    mayor transport watching workers extended expression normal chart multiple border host daily walls
    piano heat cannot earned products drama authority seasons join grade sign difficult machine
    territory mainly stations squadron stepped iron serve appear speak broken charge knowledge
    kilometres removed ships article campus simple pushed britain leaves recently soft boston latter
    easy acquired poland quality officers presence planned nations mass broadcast jean share image
    influence wild offer emperor electric reading headed ability promoted yellow ministry throat smaller
    politician latin spoke cars williams males lack acting seeing consists estate pressure johnson
    newspaper chris olympics online conditions beat elements walking vote needs carolina text featuring
    global block shirt levels francisco purpose females dutch duke ahead twice safety serious turning
    highly lieutenant firm maria amount mixed daniel proposed perfect agreement affairs seconds
    contemporary paid prison save kitchen label administrative intended constructed academic nice
    teacher races formerly corporation nation issued shut drums housing victoria seems opera graduated
    function mentioned picked build recognized shortly protection picture notable exchange elections
    loved percent racing fish elizabeth garden volume hockey beside settled competed replied drew
    actress marine scotland steel glanced farm steve risk tonight positive magic singles
""".split())
# fmt: on
