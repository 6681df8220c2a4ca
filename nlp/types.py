"""Small value types shared by the nlp layer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class MappedText:
    """A text whose every character knows where it came from in the original input.

    ``starts[i]`` / ``ends[i]`` are the original indices (Python str, end exclusive) of the
    source of ``text[i]``. Normalisation may merge (ｶﾞ -> ガ), drop (し ね -> しね) or
    replace (4ね -> しね) characters; the map keeps every output character pointing back.
    """

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @classmethod
    def identity(cls, text: str, offset: int = 0) -> "MappedText":
        idx = tuple(range(offset, offset + len(text)))
        return cls(text, idx, tuple(i + 1 for i in idx))

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Original (start, end) covering ``text[start:end]``; ``end > start`` required."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span {start}:{end} outside 0:{len(self.text)}")
        return self.starts[start], max(self.ends[start:end])

    @staticmethod
    def concat(parts: list["MappedText"], sep: str = "\n") -> "MappedText":
        """Join parts with ``sep``; separator characters map to the end of the part before."""
        text, starts, ends = [], [], []
        for k, p in enumerate(parts):
            if k and sep:
                anchor = ends[-1] if ends else 0
                text.append(sep)
                starts.extend([anchor] * len(sep))
                ends.extend([anchor] * len(sep))
            text.append(p.text)
            starts.extend(p.starts)
            ends.extend(p.ends)
        return MappedText("".join(text), tuple(starts), tuple(ends))


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of a message: ``role`` is one of SEGMENT_ROLES; offsets into the original."""

    role: str
    start: int
    end: int

    @property
    def scored(self) -> bool:
        return self.role in SCORED_ROLES


SEGMENT_ROLES = ("subject", "addressee", "body", "quote", "quote_header", "forward_header", "signature")
SCORED_ROLES = frozenset({"subject", "body"})


@dataclass(frozen=True, slots=True)
class Sentence:
    start: int  # offsets into the *normalised* customer text
    end: int
    text: str


class Token(NamedTuple):
    """A fugashi token (a NamedTuple: messages have hundreds, and tuples are cheap to make)."""

    surface: str
    lemma: str
    pos: str  # 品詞大分類, e.g. 動詞
    pos2: str  # 品詞中分類
    cform: str  # 活用形, e.g. 命令形
    start: int  # offsets into the normalised customer text
    end: int
    reading: str = ""  # kana reading (unidic), katakana


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything the models need from one message, computed once.

    ``view`` is the normalised customer text (subject and body, no quotes / signature) with
    its map to ``original``; ``folded`` is ``view.text`` with katakana folded to hiragana
    (same length, same offsets); tokens and sentences index into ``view.text``.
    """

    original: str
    segments: tuple[Segment, ...]
    view: MappedText
    folded: str
    tokens: tuple[Token, ...]
    sentences: tuple[Sentence, ...]
    subject: str = ""  # a subject given apart from the text (normalised, folded); features only

    @property
    def quoted_chars(self) -> int:
        return sum(s.end - s.start for s in self.segments if s.role in ("quote", "forward_header"))

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Original offsets of ``view.text[start:end]``, trimmed to non-blank characters."""
        s, e = self.view.original_span(start, end)
        while s < e and self.original[s].isspace():
            s += 1
        while e > s and self.original[e - 1].isspace():
            e -= 1
        return s, e


@dataclass(frozen=True, slots=True)
class Demand:
    """A demand found by the dependency parse: what is asked (``what``), from whom (``of``),
    in which form (imperative / request / desire), negated or not; offsets into the analysed text."""

    what: str
    of: str
    kind: str
    negated: bool
    start: int
    end: int
    amount: str = ""


@dataclass(frozen=True, slots=True)
class Entity:
    text: str
    label: str  # Person | Money | Position | Organization
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class DeepAnalysis:
    demands: tuple[Demand, ...]
    entities: tuple[Entity, ...]
    negated: tuple[tuple[int, int], ...]  # spans of negated predicates
