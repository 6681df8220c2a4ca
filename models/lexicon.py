"""Public word lists (``data/lexicons/``, each with its licence) as counting features.

The lists are noisy (some entries are ordinary words in a lab or medical context), so they are
features for the classifier, never labels by themselves.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..nlp.normalize import fold_kana, normalize

# category -> files under data/lexicons
LEXICON_FILES = {
    "profanity": ("ldnoobw-v2-ja/ja.txt", "ml-ask-emotions/emotemes/vulgar_uncoded.txt"),
    "offensive": ("inappropriate-words-ja/Offensive.txt",),
    "sexual": ("inappropriate-words-ja/Sexual.txt", "ldnoobw-ja/ja.txt"),
    "anger": ("ml-ask-emotions/emotions/ikari_uncoded.txt",),
    "dislike": ("ml-ask-emotions/emotions/iya_uncoded.txt",),
    "fear": ("ml-ask-emotions/emotions/kowa_uncoded.txt",),
}


@dataclass(frozen=True)
class Lexicons:
    categories: tuple[str, ...]
    patterns: tuple[re.Pattern, ...]

    def counts(self, folded_text: str) -> list[int]:
        return [len(p.findall(folded_text)) for p in self.patterns]


def _terms(lines) -> set[str]:
    out = set()
    for line in lines:
        t = line.strip()
        if not t or t.startswith("#"):
            continue
        t = fold_kana(normalize(t).text).replace(" ", "")
        if t.isascii():
            continue  # romaji entries match inside English words and identifiers
        if len(t) < 2:
            continue
        out.add(t)
    return out


@cache
def default_lexicons() -> Lexicons:
    base = resources.files("kasuhara.models").joinpath("data/lexicons")
    cats, pats = [], []
    for cat, files in LEXICON_FILES.items():
        terms = set()
        for name in files:
            terms |= _terms(base.joinpath(name).read_text("utf-8").splitlines())
        alt = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
        cats.append(cat)
        pats.append(re.compile(alt))
    return Lexicons(tuple(cats), tuple(pats))
