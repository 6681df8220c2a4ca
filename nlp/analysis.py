"""One call that runs the cheap NLP (mail structure, normalisation, sentences, tokens)."""
from __future__ import annotations

from .mail import parse
from .normalize import fold_kana, normalize
from .sentences import split
from .tokens import Tokenizer
from .types import Analysis, MappedText


def analyze(text: str, tokenizer: Tokenizer, subject: str | None = None) -> Analysis:
    """Analyse ``text``. A subject given apart from the text (a ticket field) feeds the
    features; evidence offsets always point into ``text``."""
    segments = parse(text)
    parts = [normalize(text[s.start:s.end], s.start) for s in segments if s.scored]
    view = MappedText.concat(parts, "\n") if parts else MappedText("", (), ())
    tokens = tuple(tokenizer(view.text)) if view.text else ()
    sub = fold_kana(normalize(subject).text) if subject and subject.strip() else ""
    return Analysis(text, segments, view, fold_kana(view.text), tokens, tuple(split(view.text)), sub)
