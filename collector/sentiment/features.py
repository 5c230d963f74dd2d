"""Text to terms, the same at fit and score time: English words (1-2 grams, negation marked) and character 3-6
grams, Chinese characters (1-3 grams). Language detection by the share of CJK characters."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from itertools import pairwise

TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?.,;:]")
NEGATORS = frozenset(("not", "no", "never", "nothing", "nor", "cannot", "without", "hardly"))
CLAUSE_END = frozenset(".,;:!?")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LETTER = re.compile(r"[^\W\d_]")
SPACES = re.compile(r"\s+")
LANGS = ("en", "zh")
CJK_SHARE = 0.3  #: a text whose letters are at least this share CJK characters is Chinese


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), lower case, one space between words, no BOM."""
    return SPACES.sub(" ", unicodedata.normalize("NFKC", text).replace("\ufeff", "").lower()).strip()


def detect_lang(text: str) -> str:
    """``zh`` when CJK characters make up at least :data:`CJK_SHARE` of the letters, else ``en``."""
    letters = len(LETTER.findall(text))
    return "zh" if letters and len(CJK.findall(text)) / letters >= CJK_SHARE else "en"


def en_words(text: str) -> list[str]:
    """Word unigrams and bigrams; words after a negator (``not``, ``no``, ``...n't``) up to the end of the clause
    get a ``~`` prefix (``not ~flattering``); ``!`` and ``?`` are words."""
    words: list[str] = []
    negated = False
    for token in TOKEN.findall(normalise(text)):
        if token in CLAUSE_END:
            negated = False
            if token in "!?":
                words.append(token)
            continue
        words.append("~" + token if negated else token)
        negated = negated or token in NEGATORS or token.endswith("n't")
    return words + [f"{a} {b}" for a, b in pairwise(words)]


def en_chars(text: str) -> list[str]:
    """Character 3-6 grams of the space-padded text (across word boundaries: ``t goo`` is one)."""
    s = f" {normalise(text)} "
    return [s[i:i + n] for n in range(3, 7) for i in range(len(s) - n + 1)]


def zh_chars(text: str) -> list[str]:
    """Character 1-3 grams of the text without spaces (punctuation kept: ``！`` and ``？`` carry sentiment)."""
    s = normalise(text).replace(" ", "")
    return [s[i:i + n] for n in (1, 2, 3) for i in range(len(s) - n + 1)]


#: the analyzers a model file may name, by key
ANALYZERS: dict[str, Callable[[str], list[str]]] = {"en_words": en_words, "en_chars": en_chars, "zh_chars": zh_chars}
