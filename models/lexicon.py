"""Public word lists (``data/lexicons/``, each with its licence) as counting features.

The lists are noisy (some entries are ordinary words in a lab or medical context), so they are
features for the classifier, never labels by themselves.
"""
from __future__ import annotations

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
    automaton: object  # ahocorasick.Automaton: term -> indices of its categories

    def counts(self, folded_text: str) -> list[int]:
        """Matches per category (longest, non-overlapping) in the kana-folded text."""
        out = [0] * len(self.categories)
        for _, cats in self.automaton.iter_long(folded_text):
            for c in cats:
                out[c] += 1
        return out


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
    import ahocorasick

    base = resources.files("kasuhara.models").joinpath("data/lexicons")
    index: dict[str, set[int]] = {}
    for k, files in enumerate(LEXICON_FILES.values()):
        for name in files:
            for term in _terms(base.joinpath(name).read_text("utf-8").splitlines()):
                index.setdefault(term, set()).add(k)
    automaton = ahocorasick.Automaton()
    for term, cats in index.items():
        automaton.add_word(term, tuple(sorted(cats)))
    automaton.make_automaton()
    return Lexicons(tuple(LEXICON_FILES), automaton)
