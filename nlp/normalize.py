"""Normalisation with an offset map back to the original text.

``normalize`` applies, in order:

1. NFKC per grapheme cluster (so ｶﾞ becomes ガ, ＡＢＣ becomes abc after lower-casing), and
   lower-cases Latin letters;
2. removes short runs of separators inserted inside Japanese words (し ね, 殺.す, ぶ・っ・殺・す);
3. rewrites common obfuscations of 死ね / 殺す (4ね, ○ね, 氏ね, 市ね, ﾀﾋね, ぶっ○す);
4. collapses stretched characters (すみませーーーん -> すみませーん, ！！！！！ -> ！！！).

Every output character keeps the original indices of its source (:class:`MappedText`), so
evidence found in the normalised text can be reported at its place in the input.
"""
from __future__ import annotations

import re
import unicodedata

from .types import MappedText

_VOICED_MARKS = frozenset("\uff9e\uff9f\u3099\u309a\u309b\u309c")
_SEPARATORS = frozenset(" \u3000.．・･*＊_＿‐-~～,，、")
# characters NFKC leaves alone, checked first for speed
_PLAIN = re.compile(r"[\u3041-\u3096\u30a1-\u30f6\u4e00-\u9fff\u3001-\u3003\u3005\u3006\u3008-\u3011"
                    r"\u30fc\n\t!-~]")
_PLAIN_RUN = re.compile(_PLAIN.pattern + "+")
_SEPARATOR_RUN = re.compile("[" + re.escape("".join(sorted(_SEPARATORS))) + "]+")
# a run _collapse_repeats would shorten (a superset: \D is narrower than "not str.isdigit")
_REPEAT_CANDIDATE = re.compile(r"([ー〜~っッ])\1|(\D)\2\2\2")
_KATA_TO_HIRA = {c: c - 0x60 for c in range(0x30A1, 0x30F7)}
_MASK = "○〇◯●◎□■×✕*＊"
_REWRITES = re.compile(
    "|".join([
        r"(?P<shi4>(?<![0-9a-z])4(?=[ねネ]))",  # 4ね
        rf"(?P<shimask>(?<![0-9a-z\u4e00-\u9fff])[{_MASK}](?=[ねネ](?:[!！。、\s]|$)))",  # ○ね
        r"(?P<shikanji>(?<![\u4e00-\u9fff\u30a1-\u30fa])[氏市](?=[ねネ](?:[!！。、\s よ]|$)))",  # 氏ね
        r"(?P<tahi>[タた]ヒ(?=[ねネ]))",  # ﾀﾋね -> しね
        rf"(?P<korosu>(?<=[ぶブ]っ|[ぶブ]ッ)[{_MASK}]{{1,2}}(?=[すスそソせセ]))",  # ぶっ○す
    ])
)
_REPLACEMENT = {"shi4": "し", "shimask": "し", "shikanji": "し", "tahi": "し", "korosu": "殺"}


def _is_japanese(ch: str) -> bool:
    o = ord(ch)
    return (0x3040 <= o <= 0x30FA or o == 0x30FC or 0x4E00 <= o <= 0x9FFF or o in (0x3005, 0x3006)
            or ch in _MASK)


def _nfkc(text: str, base: int) -> tuple[list[str], list[int], list[int]]:
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        m = _PLAIN_RUN.match(text, i)
        if m is not None:  # a run NFKC leaves alone, in one go; its last character may still
            j = m.end()    # combine with a mark after it, so that one takes the slow path
            if j < n and (text[j] in _VOICED_MARKS or unicodedata.combining(text[j])):
                j -= 1
            if j > i:
                chars.extend(text[i:j].lower())  # only A-Z change (the run is ASCII, kana, kanji)
                starts.extend(range(base + i, base + j))
                ends.extend(range(base + i + 1, base + j + 1))
                i = j
                continue
        ch = text[i]
        j = i + 1
        while j < n and (text[j] in _VOICED_MARKS or unicodedata.combining(text[j])):
            j += 1
        if j == i + 1 and _PLAIN.match(ch):
            out = ch.lower() if "A" <= ch <= "Z" else ch
        else:
            out = unicodedata.normalize("NFKC", text[i:j]).lower()
        for c in out:
            chars.append(c)
            starts.append(base + i)
            ends.append(base + j)
        i = j
    return chars, starts, ends


def _drop_inner_separators(chars, starts, ends):
    n = len(chars)
    keep = None
    for m in _SEPARATOR_RUN.finditer("".join(chars)):
        i, j = m.span()
        # only between two Japanese letters, 1-2 separators, and only when the letters on
        # both sides are short fragments (obfuscation), not two ordinary words in a list
        if (j - i <= 2 and i > 0 and j < n and _is_japanese(chars[i - 1]) and _is_japanese(chars[j])
                and _fragmentary(chars, i, j)):
            if keep is None:
                keep = [True] * n
            for k in range(i, j):
                keep[k] = False
    if keep is None:
        return chars, starts, ends
    return ([c for c, k in zip(chars, keep) if k], [s for s, k in zip(starts, keep) if k],
            [e for e, k in zip(ends, keep) if k])


def _fragmentary(chars, i: int, j: int) -> bool:
    """True when the separator run at chars[i:j] splits a word letter by letter (し ね, 殺.す).

    Ordinary lists and phrases (りんご・みかん, 至急 対応) have several letters on each side;
    obfuscation puts a separator after nearly every letter, so at least one side is one letter.
    """
    left = 0
    k = i - 1
    while k >= 0 and _is_japanese(chars[k]):
        left += 1
        k -= 1
    right = 0
    k = j
    while k < len(chars) and _is_japanese(chars[k]):
        right += 1
        k += 1
    return left == 1 or right == 1


def _rewrite(chars, starts, ends):
    text = "".join(chars)
    if not _REWRITES.search(text):
        return chars, starts, ends
    out_c, out_s, out_e = [], [], []
    pos = 0
    for m in _REWRITES.finditer(text):
        out_c.extend(chars[pos:m.start()])
        out_s.extend(starts[pos:m.start()])
        out_e.extend(ends[pos:m.start()])
        rep = _REPLACEMENT[m.lastgroup]
        s, e = starts[m.start()], max(ends[m.start():m.end()])
        for c in rep:
            out_c.append(c)
            out_s.append(s)
            out_e.append(e)
        pos = m.end()
    out_c.extend(chars[pos:])
    out_s.extend(starts[pos:])
    out_e.extend(ends[pos:])
    return out_c, out_s, out_e


def _collapse_repeats(chars, starts, ends):
    if not _REPEAT_CANDIDATE.search("".join(chars)):
        return chars, starts, ends
    out_c, out_s, out_e = [], [], []
    run = 0
    for idx, c in enumerate(chars):
        if out_c and c == out_c[-1] and not c.isdigit():
            run += 1
            limit = 1 if c in "ー〜~っッ" else 3
            if run >= limit:
                out_e[-1] = max(out_e[-1], ends[idx])
                continue
        else:
            run = 0
        out_c.append(c)
        out_s.append(starts[idx])
        out_e.append(ends[idx])
    return out_c, out_s, out_e


def normalize(text: str, base: int = 0) -> MappedText:
    """Normalise ``text``; offsets in the map are ``base`` + index into ``text``."""
    chars, starts, ends = _nfkc(text, base)
    chars, starts, ends = _drop_inner_separators(chars, starts, ends)
    chars, starts, ends = _rewrite(chars, starts, ends)
    chars, starts, ends = _collapse_repeats(chars, starts, ends)
    return MappedText("".join(chars), tuple(starts), tuple(ends))


def fold_kana(text: str) -> str:
    """Katakana to hiragana, one character for one, so offsets are unchanged."""
    return text.translate(_KATA_TO_HIRA)
