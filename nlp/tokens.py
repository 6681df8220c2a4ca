"""fugashi (MeCab + unidic-lite) tokens as our own :class:`Token`."""
from __future__ import annotations

from .types import Token


class Tokenizer:
    """Wraps one fugashi Tagger; create once and reuse (creating a Tagger costs ~50 ms).

    Reads MeCab's own text output (unidic-lite's default node format: surface, pronunciation,
    lemma reading, lemma, POS joined by "-", conjugation type, conjugation form, accent), which
    is about twice as fast as building a Python node object per word."""

    def __init__(self) -> None:
        import fugashi  # imported here so that importing nlp costs nothing

        self._tagger = fugashi.Tagger()

    def __call__(self, text: str) -> list[Token]:
        out: list[Token] = []
        pos = 0
        for line in self._tagger.parse(text).split("\n"):
            if not line or line == "EOS":
                continue
            f = line.split("\t")
            surface = f[0]
            start = text.find(surface, pos)
            if start < 0:  # MeCab never rewrites surfaces, but do not trust it blindly
                start = pos
            end = start + len(surface)
            pos = end
            lemma = f[3] if len(f) > 3 and f[3] else surface
            if "-" in lemma and not surface.startswith("-"):  # unidic: キル-kill
                lemma = lemma.split("-", 1)[0]
            pos_parts = f[4].split("-") if len(f) > 4 else [""]
            out.append(Token(surface, lemma, pos_parts[0], pos_parts[1] if len(pos_parts) > 1 else "",
                             f[6] if len(f) > 6 else "", start, end, f[1] if len(f) > 1 and f[1] else surface))
        return out

    def __getstate__(self):  # a Tagger cannot be pickled; rebuild it on load
        return {}

    def __setstate__(self, state) -> None:
        self.__init__()
