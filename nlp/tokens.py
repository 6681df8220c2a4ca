"""fugashi (MeCab + unidic-lite) tokens as our own :class:`Token`."""
from __future__ import annotations

from .types import Token


class Tokenizer:
    """Wraps one fugashi Tagger; create once and reuse (creating a Tagger costs ~50 ms)."""

    def __init__(self) -> None:
        import fugashi  # imported here so that importing nlp costs nothing

        self._tagger = fugashi.Tagger()

    def __call__(self, text: str) -> list[Token]:
        out: list[Token] = []
        pos = 0
        for w in self._tagger(text):
            surface = w.surface
            start = text.find(surface, pos)
            if start < 0:  # MeCab never rewrites surfaces, but do not trust it blindly
                start = pos
            end = start + len(surface)
            pos = end
            f = w.feature
            lemma = f.lemma or surface
            if "-" in lemma and not surface.startswith("-"):  # unidic: キル-kill
                lemma = lemma.split("-", 1)[0]
            out.append(Token(surface, lemma, f.pos1 or "", f.pos2 or "", f.cForm or "", start, end))
        return out

    def __getstate__(self):  # a Tagger cannot be pickled; rebuild it on load
        return {}

    def __setstate__(self, state) -> None:
        self.__init__()
