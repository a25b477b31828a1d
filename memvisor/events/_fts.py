"""Text as SQLite's FTS5 ``porter unicode61`` tokenizer sees it, in pure Python.

The SQLite log indexes recall with FTS5; the in-memory log ranks with this
module, so that both find the same messages for the same words::

    "The meetings were POSTPONED, café"   ──tokens──►  the meetings were postponed cafe
                                          ──stems───►  the meet were postpon cafe

* **Tokens** (FTS5 ``unicode61``): maximal runs of letters and digits; every
  other character separates. Case-folded character by character, as SQLite
  does (so a word-final capital sigma folds to the ordinary small sigma), and
  combining accents on Latin letters are dropped (``café`` → ``cafe``).
* **Stems** (FTS5 ``porter``): Porter's 1980 algorithm, applied exactly as
  FTS5's C code applies it (byte for byte the same rules, in the same order,
  including its quirks), to tokens of 3 to 64 UTF-8 bytes; others pass unchanged.
* **Query terms**: what a model types is split into tokens, English stop words
  are dropped, and terms with the same stem are kept once. Nothing of FTS5's
  query syntax survives (quotes, ``NEAR``, ``*``, ``:``, ``-``, parentheses are
  separators), so no text can cause a syntax error.

Agreement with SQLite is exact for text in Latin-1 and Latin Extended-A
(U+0000 to U+017F: English and most European languages), which a test checks
against SQLite's own tokenizer. Beyond, Python's Unicode tables and SQLite's
differ on some characters (SQLite strips fewer accents, and treats some marks
as separators); the in-memory log may then find slightly different messages
than the SQLite log, which is right by definition.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

__all__ = ["MAX_QUERY_TERMS", "STOP_WORDS", "query_terms", "stem", "tokenize"]

MAX_QUERY_TERMS = 32
"""Terms of a query beyond this many are ignored (a pasted essay is not a query)."""

_STOP_WORDS = """
    a about above after again against all am an and any are aren as at be because been
    before being below between both but by can cannot could couldn d did didn do does
    doesn doing don down during each few for from further had hadn has hasn have haven
    having he her here hers herself him himself his how i if in into is isn it its itself
    just ll m me more most my myself no nor not now o of off on once only or other our
    ours ourselves out over own re s same shan she should shouldn so some such t than
    that the their theirs them themselves then there these they this those through to
    too under until up ve very was wasn we were weren what when where which while who
    whom why will with won would wouldn y you your yours yourself yourselves
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS.split())
"""Common English words that say nothing about what a message is about.

Contractions appear as their pieces (``don't`` is the tokens ``don`` and ``t``)."""

_TOKEN = re.compile(r"[^\W_]+")  # letters and digits of any script; "_" separates, as in SQLite
_ACCENTS = range(0x300, 0x370)  # the Combining Diacritical Marks block
_ASCII_MAX = 0x7F
_LATIN_END = 0x250  # Basic Latin to Latin Extended-B
_LATIN_EXTENDED_ADDITIONAL = 0x1E00
_GREEK_EXTENDED = 0x1F00
_MAX_STEM_BYTES = 64
_MIN_STEM_BYTES = 3


def tokenize(text: str) -> list[str]:
    """The tokens FTS5's ``unicode61`` tokenizer makes of ``text``, in order."""
    if text.isascii():
        return _TOKEN.findall(text.lower())
    return _TOKEN.findall(_fold(text))


def _fold(text: str) -> str:
    out: list[str] = []
    for c in text:
        for ch in _fold_char(c):
            if ord(ch) in _ACCENTS:
                continue  # a combining accent on its own: dropped, whatever it is on
            out.append(_strip_accent(ch) if ord(ch) > _ASCII_MAX else ch)
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    """SQLite's case folding of one character: one character to one (the long s
    folds to ``s``, the micro sign to Greek mu, capital sigma to the small sigma
    even at the end of a word), never to two (``ß`` stays ``ß``)."""
    folded = c.casefold()
    return folded if len(folded) == 1 else c.lower()


@functools.lru_cache(maxsize=4096)
def _strip_accent(ch: str) -> str:
    """A Latin letter with exactly one accent loses it (``é`` → ``e``); others stay
    (``ȭ`` has two, ``ί`` is Greek), as with FTS5's ``remove_diacritics=1``."""
    parts = unicodedata.normalize("NFD", ch)
    if len(parts) == 2 and ord(parts[1]) in _ACCENTS and _is_latin(parts[0]):
        return parts[0]
    return ch


def _is_latin(c: str) -> bool:
    code = ord(c)
    return code < _LATIN_END or _LATIN_EXTENDED_ADDITIONAL <= code < _GREEK_EXTENDED


def query_terms(text: str) -> tuple[str, ...]:
    """The search terms in ``text``: tokens that are not stop words, one per stem.

    A query of nothing but stop words (``"to be or not to be"``) keeps them all:
    the user meant those words. Text with no letters or digits has no terms.
    At most :data:`MAX_QUERY_TERMS` are kept, the first ones.
    """
    tokens = tokenize(text)
    meaningful = [t for t in tokens if t not in STOP_WORDS] or tokens
    seen: set[str] = set()
    terms: list[str] = []
    for token in meaningful:
        s = stem(token)
        if s not in seen:
            seen.add(s)
            terms.append(token)
    return tuple(terms[:MAX_QUERY_TERMS])


# --- Porter stemming, as FTS5's fts5_porter.c does it ------------------------------
#
# FTS5 works on UTF-8 bytes, and so does this for non-ASCII tokens: every byte
# of a multi-byte character is a consonant to the rules, as in C.


def _vowel(c: str, y_is_vowel: bool) -> bool:
    return c in "aeiou" or (y_is_vowel and c == "y")


def _gobble_vc(s: str, prev_consonant: bool) -> int:
    """Index just past the first vowel-consonant sequence of ``s``, 0 if none."""
    consonant = prev_consonant
    i, n = 0, len(s)
    while i < n:
        consonant = not _vowel(s[i], consonant)
        if not consonant:
            break
        i += 1
    i += 1
    while i < n:
        consonant = not _vowel(s[i], consonant)
        if consonant:
            return i + 1
        i += 1
    return 0


def _m_gt0(s: str) -> bool:
    return _gobble_vc(s, False) != 0


def _m_gt1(s: str) -> bool:
    n = _gobble_vc(s, False)
    return n != 0 and _gobble_vc(s[n:], True) != 0


def _m_eq1(s: str) -> bool:
    n = _gobble_vc(s, False)
    return n != 0 and _gobble_vc(s[n:], True) == 0


def _ostar(s: str) -> bool:
    """``*o``: the stem ends consonant-vowel-consonant, the last not w, x or y."""
    if s[-1] in "wxy":
        return False
    mask = 0
    consonant = False
    for c in s:
        consonant = not _vowel(c, consonant)
        mask = (mask << 1) + consonant
    return (mask & 0b111) == 0b101


def _m_gt1_s_or_t(s: str) -> bool:
    return s[-1] in "st" and _m_gt1(s)


def _has_vowel(s: str) -> bool:
    """``*v*``, with FTS5's reading: ``y`` is a vowel anywhere but first."""
    return any(_vowel(c, i > 0) for i, c in enumerate(s))


_Rule = tuple[str, Callable[[str], bool] | None, str]  # suffix, condition on the stem, replacement

# The first rule whose suffix matches (leaving a non-empty stem) decides: if its
# condition fails, the word is left as it is.
_STEP_1B: tuple[_Rule, ...] = (
    ("eed", _m_gt0, "ee"),
    ("ed", _has_vowel, ""),
    ("ing", _has_vowel, ""),
)
_STEP_1B2: tuple[_Rule, ...] = (("at", None, "ate"), ("bl", None, "ble"), ("iz", None, "ize"))
_STEP_2: tuple[_Rule, ...] = tuple(
    (suffix, _m_gt0, repl)
    for suffix, repl in (
        ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"),
        ("izer", "ize"), ("logi", "log"), ("bli", "ble"), ("alli", "al"), ("entli", "ent"),
        ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"), ("ator", "ate"),
        ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"),
        ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"),
    )
)  # fmt: skip
_STEP_3: tuple[_Rule, ...] = tuple(
    (suffix, _m_gt0, repl)
    for suffix, repl in (
        ("ical", "ic"), ("ness", ""), ("icate", "ic"), ("iciti", "ic"), ("ful", ""),
        ("ative", ""), ("alize", "al"),
    )
)  # fmt: skip
_STEP_4: tuple[_Rule, ...] = tuple(
    (suffix, _m_gt1_s_or_t if suffix == "ion" else _m_gt1, "")
    for suffix in (
        "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent",
        "ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize",
    )
)  # fmt: skip


def _apply(word: str, rules: tuple[_Rule, ...]) -> tuple[str, str | None]:
    """``word`` after the first rule whose suffix matches, and that suffix if it applied."""
    for suffix, condition, replacement in rules:
        if len(word) > len(suffix) and word.endswith(suffix):
            base = word[: -len(suffix)]
            if condition is None or condition(base):
                return base + replacement, suffix
            return word, None
    return word, None


@functools.lru_cache(maxsize=1 << 16)
def stem(token: str) -> str:
    """The Porter stem of one token (from :func:`tokenize`), as FTS5 computes it."""
    if token.isascii():
        return _stem(token) if _MIN_STEM_BYTES <= len(token) <= _MAX_STEM_BYTES else token
    raw = token.encode()
    if not _MIN_STEM_BYTES <= len(raw) <= _MAX_STEM_BYTES:
        return token
    # FTS5 stems bytes: one character per byte makes every rule see what C sees.
    return _stem(raw.decode("latin-1")).encode("latin-1").decode(errors="replace")


def _stem(w: str) -> str:
    w = _step_1a(w)
    w, suffix = _apply(w, _STEP_1B)
    if suffix in ("ed", "ing"):  # not after "eed" -> "ee"
        w, suffix = _apply(w, _STEP_1B2)
        if suffix is None:
            w = _after_1b(w)
    if w[-1] == "y" and _has_vowel(w[:-1]):  # step 1c
        w = w[:-1] + "i"
    w = _apply(w, _STEP_2)[0]
    w = _apply(w, _STEP_3)[0]
    w = _apply(w, _STEP_4)[0]
    if w[-1] == "e":  # step 5a
        base = w[:-1]
        if _m_gt1(base) or (_m_eq1(base) and not _ostar(base)):
            w = base
    if len(w) > 1 and w.endswith("ll") and _m_gt1(w[:-1]):  # step 5b
        w = w[:-1]
    return w


def _step_1a(w: str) -> str:
    if w[-1] != "s":
        return w
    if w[-2] == "e":
        if (len(w) > 4 and w[-4:-2] == "ss") or (len(w) > 3 and w[-3] == "i"):
            return w[:-2]
        return w[:-1]
    return w if w[-2] == "s" else w[:-1]


def _after_1b(w: str) -> str:
    """Step 1b's clean-up when neither at/bl/iz applied: undouble, or add an ``e``."""
    c = w[-1]
    if len(w) > 1 and not _vowel(c, False) and c not in "lsz" and c == w[-2]:
        return w[:-1]
    if _m_eq1(w) and _ostar(w):
        return w + "e"
    return w
