"""Analogies and the vocabulary they are answered in: the plan's examples, relation pairs, the Google
format, and filler words frozen here (nothing is read from disk or the network).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lvmgate.errors import InputError

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
