"""Sentence splitting with offsets."""
from __future__ import annotations

import re

from .types import Sentence

_END = re.compile(r"[^。！？!?\n]*(?:[。！？!?]+[」』）)]?|\n|$)")


def split(text: str, min_chars: int = 1) -> list[Sentence]:
    """Sentences of ``text`` (ends at 。！？!? runs and newlines), stripped of blanks."""
    out: list[Sentence] = []
    for m in _END.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e - s >= min_chars:
            out.append(Sentence(s, e, text[s:e]))
    return out
