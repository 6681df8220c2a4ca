"""Rule recognisers declared as data (``data/recognizers.json``), Presidio style.

A recogniser is a label, a regular expression over the normalised, kana-folded customer text,
an optional ``unless`` pattern checked against the sentence around the hit, a strength and an
explanation. Hits are features for the classifier and candidate evidence spans.
"""
from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from ..nlp.types import Analysis


@dataclass(frozen=True, slots=True)
class Recognizer:
    name: str
    label: str
    pattern: re.Pattern
    unless: re.Pattern | None
    strength: float
    explanation: str
    against: bool = False  # the look-alike that is NOT the label: a counter-feature, never evidence


@dataclass(frozen=True, slots=True)
class Hit:
    label: str
    name: str
    start: int  # offsets into analysis.view.text
    end: int
    strength: float
    explanation: str
    against: bool = False


def parse_recognizers(raw: dict, labels: tuple[str, ...]) -> tuple[Recognizer, ...]:
    out = []
    for r in raw["recognizers"]:
        if r["label"] not in labels:
            raise ValueError(f"recogniser {r['name']}: unknown label {r['label']!r}")
        if not 0 < float(r["strength"]) <= 1:
            raise ValueError(f"recogniser {r['name']}: strength must be in (0, 1]")
        try:
            pat = re.compile(r["pattern"])
            unless = re.compile(r["unless"]) if r.get("unless") else None
        except re.error as e:
            raise ValueError(f"recogniser {r['name']}: bad pattern: {e}") from None
        if not isinstance(r.get("against", False), bool):
            raise ValueError(f"recogniser {r['name']}: 'against' must be true or false")
        out.append(Recognizer(r["name"], r["label"], pat, unless, float(r["strength"]), r["explanation"],
                              r.get("against", False)))
    return tuple(out)


@cache
def default_recognizers() -> tuple[Recognizer, ...]:
    from .taxonomy import load_taxonomy

    raw = json.loads(resources.files("kasuhara.models").joinpath("data/recognizers.json").read_text("utf-8"))
    return parse_recognizers(raw, load_taxonomy().ids)


def load_recognizers(path: str | Path) -> tuple[Recognizer, ...]:
    from .taxonomy import load_taxonomy

    return parse_recognizers(json.loads(Path(path).read_text("utf-8")), load_taxonomy().ids)


def find(analysis: Analysis, recognizers: tuple[Recognizer, ...]) -> list[Hit]:
    """Every hit of ``recognizers`` in the analysis's customer text (offsets into ``view.text``).

    Memoised on the text: features, decision and evidence all ask for the same message's hits."""
    bounds = tuple((s.start, s.end) for s in analysis.sentences)
    return list(_find(recognizers, analysis.folded, bounds))


@lru_cache(maxsize=2048)
def _find(recognizers: tuple[Recognizer, ...], text: str, bounds: tuple[tuple[int, int], ...]) -> tuple[Hit, ...]:
    if not text:
        return ()
    sent_starts = [b[0] for b in bounds]
    hits = []
    for r in recognizers:
        for m in r.pattern.finditer(text):
            if m.end() <= m.start():
                continue
            if r.unless is not None:
                k = bisect.bisect_right(sent_starts, m.start()) - 1
                if k >= 0:
                    s, e = bounds[k]
                    context = text[s:max(e, m.end())]
                else:
                    context = text[max(0, m.start() - 20):m.end() + 20]
                if r.unless.search(context):
                    continue
            hits.append(Hit(r.label, r.name, m.start(), m.end(), r.strength, r.explanation, r.against))
    return tuple(hits)
