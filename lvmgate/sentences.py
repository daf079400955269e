"""Rule-based sentence boundaries, for the phase-1 chunk-ending check (gate 1.3). No models, no downloads.

In the spirit of Punkt, pySBD and the Unicode sentence-boundary rules (UAX #29), tuned for
encyclopedic English:

1. A candidate end is a run of terminal marks (``. ! ? …`` and ``。 ！ ？ । ؟ ։ ።`` ...), then any
   closing quotes or brackets or a citation marker like ``[12]``, then whitespace or the end of the text.
   CJK marks need no whitespace after them; a period inside a token (``3.5``, ``U.S.A``, ``e.g.,``)
   is never a candidate.
2. A period after a known abbreviation: *never-final* ones (titles and words that need a
   continuation: ``Dr. St. e.g. i.e. approx. sq. No. Fig. c.``, months; `NEVER_FINAL`) never end a
   sentence; *final-capable* ones (``etc. Inc. Ltd. Jr. U.S. a.m. B.C. et al.``; `FINAL_CAPABLE`, plus
   any dotted acronym like ``U.S.S.R.``) end one at the end of the text or before a typical sentence
   opener (``The``, ``It``, ``However`` ...; `SENTENCE_STARTERS`).
3. A single capital letter with a period is an initial (``J. R. R. Tolkien``) and ends nothing, except
   after a designator noun (``vitamin C.``, ``Plan B.``; `DESIGNATORS`) or as a regnal / war numeral
   after a capitalised word (``World War I.``, ``Henry V.``).
4. An ellipsis (``...`` or ``…``) ends a sentence at the end of the text or before a capitalised word.
5. Otherwise a candidate is a boundary unless the next word starts in lower case
   (``"Why?" he asked``), as in UAX #29 and Punkt's orthographic heuristic.
6. From pySBD's English Golden Rules (all 48 pass; tests/test_sentences.py reads them from the pysbd
   wheel): enumerations (``1.) a 2.) b``, ``a. x b. y``) are cut before each item; ``. . .`` omits
   words and ends nothing, ``. . . .`` ends a sentence; ``[...]`` is never an end; the pronoun *I* and
   a regnal numeral end a sentence only before a sentence opener. pySBD itself takes ~4 ms per chunk
   (15 minutes for 200k), these rules ~8 us (benchmarks/bench_sentences.py).

`ends_sentence` looks only at the end of the text (what the gate needs, fast over 200k chunks);
`boundary_reason` names the rule that decided; `split_sentences` applies the same rules everywhere.
Extend the word lists with `SentenceSegmenter(extra_never_final=..., extra_final=...)`.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from lvmgate.results import Result

__all__ = [
    "COMPLETE_REASONS",
    "DESIGNATORS",
    "FINAL_CAPABLE",
    "NEVER_FINAL",
    "REASONS",
    "SENTENCE_STARTERS",
    "EndingSummary",
    "SentenceSegmenter",
    "boundary_reason",
    "ends_sentence",
    "split_sentences",
    "summarize_endings",
]

# --- word lists (without the final period). An all-lower-case entry also matches its capitalised or
# upper-case form ("approx" -> "Approx."); an entry with capitals matches only as written ("No" is
# not "no", "Fig" is not the fruit). ------------------------------------------------------------------
NEVER_FINAL: frozenset[str] = frozenset(
    # titles and honorifics that precede a name (St. read as Saint, not Street)
    "Mr Mrs Ms Mx Dr Prof Rev Fr Hon Pres Gov Sen Rep Gen Col Maj Capt Cpt Lt Sgt Cpl Adm Cmdr Brig "
    "Supt Msgr Mme Mlle Messrs St Ste Mt Ft Pt "
    # Latin and scholarly abbreviations that introduce something
    "e.g i.e cf viz vs v a.k.a ca c approx esp incl op b d fl sq est "
    # references and numbering: No. 5, Fig. 3, pp. 10-12, vol. 2
    "No Nos N° Nº Fig Figs Eq Eqs Art Ch Sec Ref Refs Vol vol vols pp p para paras "
    # months, which precede a day or a year
    "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec".split()
)
FINAL_CAPABLE: frozenset[str] = frozenset(
    # can close a sentence: "... and so on, etc." "... Smith Jr." "... in the U.S."
    "etc al Inc Ltd Co Corp Bros Plc Jr Sr Esq "
    "a.m p.m U.S U.K U.N E.U D.C B.C A.D B.C.E C.E Ph.D M.D B.A M.A B.Sc M.Sc "
    "Ave Blvd Rd".split()
)
SENTENCE_STARTERS: frozenset[str] = frozenset(
    "The A An It Its This That These Those There Their They He She His Her We Our I You My One Two "
    "In On At By For From With Of To As After Before During When While Since Until Although Though "
    "If Because Despite Following According Between Under Over Among Unlike Like "
    "However But And Or So Yet Thus Also Then Later Today Meanwhile Moreover Nevertheless Instead "
    "Similarly Further Furthermore Many Most Some Several Each Both All Other Another Such "
    "Why How What Who Where Which "
    # questions open with an auxiliary: "... you and I. Did you see ...?"
    "Did Do Does Is Are Was Were Has Have Had Can Could Will Would Should May Might Must".split()
)
DESIGNATORS: frozenset[str] = frozenset(
    # nouns followed by a single-letter name: "vitamin C.", "Plan B.", "Group A."
    "vitamin vitamins hepatitis type class group grade plan appendix annex part section category "
    "exhibit schedule division league series model block row gate terminal building tier level route "
    "channel letter option phase stage zone wing hall platform formula figure table note program "
    "programme list size team unit".split()
)

_TERMINALS = ".!?…‼⁇⁈⁉‽。！？｡．।॥؟۔։።፧\u037e"  # U+037E is the Greek question mark
_NO_SPACE_TERMINALS = frozenset("。！？｡")  # scripts written without spaces (not "．": ３．５)
_QUOTES = "\"'”’»›」』〞＂＇"
_BRACKETS = ")]}）】〉》〕〗〙〛"
_CLOSERS = frozenset(_QUOTES + _BRACKETS)
_OPENERS = "\"'“‘„«‹([{（【〈《〔〖〘〚「『〝¿¡"
_NON_TERMINAL = frozenset(",;:-–—/&+=|\\·、，；：")
_CITATION = r"\[(?:\d{1,4}|[a-z]|note \d{1,3}|citation needed)\]"
_CITATION_END = re.compile(r"\s*" + _CITATION + r"\Z")
_CANDIDATE = re.compile(
    "(?P<run>["
    + re.escape(_TERMINALS)
    + r"]+)(?:\s*"
    + _CITATION
    + "|["
    + re.escape("".join(_CLOSERS))
    + "])*"
)
_DOTTED = re.compile(r"[A-Za-z]{1,2}(?:\.[A-Za-z]{1,2})+")  # U.S, U.S.S.R, a.m, Ph.D (final '.' removed)
_ROMAN_SINGLE = frozenset("IVX")
_TAIL = 160  # characters of a text that ends_sentence looks at

COMPLETE_REASONS: frozenset[str] = frozenset(
    {"terminal-punct", "closing-quote", "closing-bracket", "citation", "ellipsis", "final-abbreviation"}
)
REASONS: dict[str, str] = {
    "terminal-punct": "ends with . ! ? or a non-Latin full stop",
    "closing-quote": "terminal mark followed by a closing quote",
    "closing-bracket": "terminal mark followed by a closing bracket",
    "citation": "terminal mark followed by a citation marker like [3]",
    "ellipsis": "ends with an ellipsis",
    "final-abbreviation": "ends with an abbreviation that can close a sentence (etc., U.S., Jr.)",
    "abbreviation": "ends with an abbreviation that needs a continuation (Dr., e.g., approx.)",
    "initial": "ends with an initial (J.)",
    "omission": "ends with a spaced omission mark (. . .) that does not close the sentence",
    "non-terminal-punct": "ends with a comma, colon, semicolon, dash or similar",
    "no-terminal-punct": "ends with a word, number or symbol",
    "empty": "nothing but whitespace",
}


@dataclass(frozen=True)
class EndingSummary(Result):
    """How many texts end on a sentence boundary, why the others do not, and examples of each reason."""

    n: int
    complete: int
    share: float
    reasons: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> text tails


class SentenceSegmenter:
    """The rules above with their word lists; instances are immutable and cheap to build."""

    def __init__(
        self,
        *,
        extra_never_final: Iterable[str] = (),
        extra_final: Iterable[str] = (),
        never_final: Iterable[str] = NEVER_FINAL,
        final: Iterable[str] = FINAL_CAPABLE,
        starters: Iterable[str] = SENTENCE_STARTERS,
        designators: Iterable[str] = DESIGNATORS,
    ):
        def split(words: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
            words = [w.rstrip(".") for w in words]
            return frozenset(w for w in words if w != w.lower()), frozenset(
                w for w in words if w == w.lower()
            )

        self._never_cased, self._never_lower = split([*never_final, *extra_never_final])
        self._final_cased, self._final_lower = split([*final, *extra_final])
        self._starters = frozenset(starters)
        self._designators = frozenset(w.lower() for w in designators)

    # --- classification of one candidate -------------------------------------------------------------
    def abbreviation_kind(self, word: str) -> str | None:
        """'abbreviation' (never final), 'final-abbreviation' or None for a word written before a period."""
        low = word.lower() if len(word) > 1 else word  # "c." is circa, "C." an initial
        if word in self._never_cased or low in self._never_lower:
            return "abbreviation"
        if word in self._final_cased or low in self._final_lower or _DOTTED.fullmatch(word):
            return "final-abbreviation"
        return None

    def _kind(self, text: str, run_start: int, run_end: int) -> str:
        """What the terminal run text[run_start:run_end] is: terminal, ellipsis, abbreviation, ..."""
        run = text[run_start:run_end]
        if "…" in run or ".." in run:
            return "ellipsis"
        if run != ".":
            return "terminal"
        k = run_start
        while k > 0 and not text[k - 1].isspace():
            k -= 1
        word = text[k:run_start].lstrip(_OPENERS)
        if not word:
            return "terminal"
        kind = self.abbreviation_kind(word)
        if kind is not None:
            return kind
        if len(word) == 1 and word.isupper():
            prev = _previous_word(text, k).strip(_OPENERS + "".join(_CLOSERS) + ",;:")
            if prev.lower() in self._designators:
                return "terminal"
            if word == "I" and prev.isalpha() and prev.islower():
                return "numeral"  # the pronoun ("you and I. Did you") or an initial ("to I. Breilous")
            if word in _ROMAN_SINGLE and len(prev) > 1 and prev.isalpha() and prev[0].isupper():
                return "numeral"  # "World War I." ends a sentence, "Albert I. Jones" does not
            return "initial"
        return "terminal"

    def _is_boundary(self, kind: str, run: str, text: str, pos: int, before: str = "") -> bool:
        """Whether the candidate of `kind` ending at `pos` is a sentence boundary, given what follows
        (`before`: the word the terminal run is attached to)."""
        if kind in ("abbreviation", "initial"):
            return False
        if run[-1] in _NO_SPACE_TERMINALS:
            return True
        nxt, word = _next_word(text, pos)
        if nxt == "end":
            return True
        if kind == "ellipsis":
            return nxt in ("upper", "uncased")
        if kind == "numeral":  # a roman numeral or the pronoun I: an end only before a sentence opener
            return word in self._starters and not _INITIAL_NEXT.match(text, pos)  # not "by I. I. Potter"
        if kind == "final-abbreviation":
            # "at 6 P.M. Mr. Smith then ...": a capitalised abbreviation before a title ends the sentence
            title = word in self._never_cased and before.replace(".", "").isupper()
            return word in self._starters or title
        return nxt != "lower"

    # --- public API ------------------------------------------------------------------------------------
    def split(self, text: str) -> list[str]:
        """Sentences of `text`, stripped, in order; joined with the whitespace between them they are `text`."""
        n = len(text)
        cuts: set[int] = set()
        skip: set[int] = set()  # positions of marks that are not candidates (list markers, spaced ellipses)
        _list_items(text, cuts, skip)
        if ". ." in text:
            _spaced_ellipses(text, cuts, skip)
        for m in _CANDIDATE.finditer(text):
            end, run_end = m.end(), m.end("run")
            run = m.group("run")
            if m.start() in skip:
                continue
            if end < n and not text[end].isspace() and run[-1] not in _NO_SPACE_TERMINALS:
                continue  # inside a token: 3.5, U.S.A, e.g.,
            if text[run_end : run_end + 1] == "]" and _BRACKETED_ELLIPSIS.match(text, max(0, m.start() - 1)):
                continue  # "[...]": an omission, never an end
            kind = self._kind(text, m.start(), run_end)
            attached = _previous_word(text, m.start() + 1)[:-1] if kind == "final-abbreviation" else ""
            if self._is_boundary(kind, run, text, end, attached):
                cuts.add(end)
        out: list[str] = []
        start = 0
        for cut in sorted(cuts):
            piece = text[start:cut].strip()
            if piece:
                out.append(piece)
                start = cut
        rest = text[start:].strip()
        if rest:
            out.append(rest)
        return out

    def reason(self, text: str) -> str:
        """Short label (a key of REASONS) for why `text` does or does not end a sentence."""
        e = len(text)
        while e and text[e - 1].isspace():
            e -= 1
        tail = text[max(0, e - _TAIL) : e]
        if not tail:
            return "empty"
        i, closer = len(tail), None
        while i > 0:
            ch = tail[i - 1]
            if ch == "]":
                m = _CITATION_END.search(tail, 0, i)
                if m is not None:
                    closer = "citation"
                    i = m.start()
                    continue
            if ch in _CLOSERS:
                closer = "closing-quote" if ch in _QUOTES else "closing-bracket"
                i -= 1
                continue
            break
        if i >= 2 and tail[i - 1] == "." and tail[i - 2].isspace():  # maybe ". . ." (cheap test first)
            spaced = _spaced_end(tail)
            if spaced is not None:
                return spaced
        j = i
        while j > 0 and tail[j - 1] in _TERMINALS:
            j -= 1
        if j == i:
            return "non-terminal-punct" if i and tail[i - 1] in _NON_TERMINAL else "no-terminal-punct"
        kind = self._kind(tail, j, i)
        if kind in ("terminal", "numeral"):
            return closer or "terminal-punct"
        return kind

    def ends(self, text: str) -> bool:
        """True when the text's last non-space character closes a sentence (not cut mid-sentence)."""
        return self.reason(text) in COMPLETE_REASONS

    def summarize(self, texts: Iterable[str], examples: int = 3, tail: int = 60) -> EndingSummary:
        """Counts of ending reasons over `texts`, with up to `examples` text tails per reason."""
        counts: Counter[str] = Counter()
        shown: dict[str, list[str]] = {}
        for text in texts:
            why = self.reason(text)
            counts[why] += 1
            if len(shown.setdefault(why, [])) < examples:
                shown[why].append(("..." if len(text) > tail else "") + text[-tail:])
        n = sum(counts.values())
        complete = sum(v for k, v in counts.items() if k in COMPLETE_REASONS)
        return EndingSummary(
            n=n,
            complete=complete,
            share=complete / n if n else float("nan"),
            reasons=dict(counts.most_common()),
            examples=shown,
        )


_INITIAL_NEXT = re.compile(r"\s+[A-Z]\.")
_BRACKETED_ELLIPSIS = re.compile(r"\[(?:\.\.\.|…)")
# a list marker: "1." "2.)" "3)" "a." "• 9." "⁃10." at the start or after whitespace, then a space
_LIST_MARKER = re.compile(
    r"(?:(?<=\s)|^)(?P<bullet>[•⁃▪◦‣·]\s?)?(?P<label>\d{1,2}|[a-z])(?P<mark>\.\)|\.|\))(?=\s)"
)
# spaced ellipsis: ". . ." or ". . . ." after whitespace or glued to a word ("compounds. . . .")
_SPACED = r"(?P<glued>(?<=[^\s.])\.)?(?P<dots>(?:\s\.){3,4}|(?<=\s)\.(?:\s\.){2,3})"
_CLOSER_CLASS = "[" + re.escape("".join(_CLOSERS)) + "]"
_SPACED_ELLIPSIS = re.compile(_SPACED + r"(?=\s|$|" + _CLOSER_CLASS + ")")
_SPACED_ELLIPSIS_END = re.compile(_SPACED + _CLOSER_CLASS + r"*\Z")


def _list_items(text: str, cuts: set[int], skip: set[int]) -> None:
    """Enumerations ("1. x 2. y", "a) x b) y", "• 9. x • 10. y"): a cut before every item but the
    first, and the markers' periods are no sentence ends. Two or more consecutive labels make a list."""
    marks = list(_LIST_MARKER.finditer(text))
    for a, b in itertools.pairwise(marks):
        la, lb = a.group("label"), b.group("label")
        consecutive = (la.isdigit() and lb.isdigit() and int(lb) == int(la) + 1) or (
            la.isalpha() and lb.isalpha() and ord(lb) == ord(la) + 1
        )
        if consecutive and a.group("mark") == b.group("mark"):
            for m in (a, b):
                skip.add(m.start("mark"))
            cuts.add(b.start())


def _spaced_ellipses(text: str, cuts: set[int], skip: set[int]) -> None:
    """ ". . ." (an omission) is never an end; ". . . ." (omission + period), or a period glued to a
    word then ". . ." closed by a quote, ends a sentence before a capital; a glued period before a
    bare ". . ." ends one when a capital follows (". . . The" opens the next sentence)."""
    n = len(text)
    for m in _SPACED_ELLIPSIS.finditer(text):
        dots = [m.start("dots") + i for i, ch in enumerate(m.group("dots")) if ch == "."]
        skip.update(dots)
        e = m.end()
        while e < n and text[e] in _CLOSERS:
            e += 1
        nxt, _ = _next_word(text, e)
        glued, closed = m.group("glued") is not None, e > m.end()
        if glued:
            skip.add(m.start("glued"))
        if len(dots) == 4 or (glued and closed):
            if nxt in ("upper", "uncased", "end"):
                cuts.add(e)  # "a period . . . . Next sentence.", "less complex. . . .” The"
        elif glued and nxt in ("upper", "uncased"):
            cuts.add(m.start("glued") + 1)  # "compounds. . . . The practice": the period ends it


def _spaced_end(tail: str) -> str | None:
    """'ellipsis' or 'omission' when `tail` ends with a spaced ellipsis (see _spaced_ellipses)."""
    m = _SPACED_ELLIPSIS_END.search(tail, max(0, len(tail) - 24))  # the longest form is ~20 characters
    if m is None:
        return None
    closed = m.end("dots") < len(tail)
    if m.group("dots").count(".") == 4 or (m.group("glued") and closed):
        return "ellipsis"
    return "omission"


def _previous_word(text: str, k: int) -> str:
    """The whitespace-delimited token that ends before index k (skipping whitespace)."""
    e = k
    while e > 0 and text[e - 1].isspace():
        e -= 1
    b = e
    while b > 0 and not text[b - 1].isspace():
        b -= 1
    return text[b:e]


def _next_word(text: str, pos: int) -> tuple[str, str]:
    """Class of what follows pos ('end', 'lower', 'upper', 'digit', 'uncased', 'other') and its word."""
    n = len(text)
    while pos < n and (text[pos].isspace() or text[pos] in _OPENERS):
        pos += 1
    if pos >= n:
        return "end", ""
    e = pos
    while e < n and (text[e].isalnum() or text[e] in "'-"):
        e += 1
    word, c = text[pos:e], text[pos]
    if c.islower():
        return "lower", word
    if c.isupper() or c.istitle():
        return "upper", word
    if c.isdigit():
        return "digit", word
    if c.isalpha():
        return "uncased", word
    return "other", word


DEFAULT = SentenceSegmenter()


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` (stripped, in order) by the default rules."""
    return DEFAULT.split(text)


def ends_sentence(text: str) -> bool:
    """True when `text` ends at the end of a sentence: "in the U.S." yes, "approx." / "Dr." / "e.g." no."""
    return DEFAULT.ends(text)


def boundary_reason(text: str) -> str:
    """Why `text` does or does not end a sentence: a key of REASONS ("terminal-punct", "abbreviation", ...)."""
    return DEFAULT.reason(text)


def summarize_endings(texts: Iterable[str], examples: int = 3) -> EndingSummary:
    """Share of `texts` that end on a sentence boundary, with counts and examples of each reason."""
    return DEFAULT.summarize(texts, examples=examples)
