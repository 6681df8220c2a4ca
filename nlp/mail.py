"""Which parts of a message are the customer's new words.

``parse`` splits a message (e-mail, web form, chat line or phone memo) into
:class:`Segment` s: subject, addressee line, body, quoted earlier mail, quote / forward headers
and signature. Only subject and body are scored; quotes, forwarded headers and signatures are
context (taxonomy.md, "What counts as the customer's text").
"""
from __future__ import annotations

import re

from .types import MappedText, Segment

_SUBJECT = re.compile(r"^\s*(?:件名|subject|題名|タイトル|re|fw|fwd)\s*[:：]", re.I)
_QUOTE_LINE = re.compile(r"^\s*(?:[>＞]|\|)")
# a line that opens a block of earlier mail: everything below it is quoted
_QUOTE_OPENER = re.compile(
    r"^\s*(?:[-=_]{2,}\s*(?:[^\n]{0,6})?(?:original message|forwarded message|元のメ|転送|引用)[^\n]{0,20}"
    r"|_{5,}\s*$"
    r"|begin forwarded message:?)\s*$",
    re.I,
)
# "…wrote:" / "…のメール:" / "…書きました:" attribution lines
_ATTRIBUTION = re.compile(r"(?:wrote|のメール|書きました|書いています|書かれました|のメッセージ)\s*[:：]\s*$", re.I)
_HEADER_FIELD = re.compile(
    r"^\s*(?:from|to|cc|sent|date|subject|差出人|送信者|送信日時|日時|宛先|件名|cc)\s*[:：]", re.I)
_ADDRESSEE = re.compile(r"(?:御中|様|さま|殿|各位|ご担当者様|ご担当者さま|担当者様)\s*$")
_SIG_RULE = re.compile(r"^\s*(?:--\s*|[-=_*＝ー━─―~〜※#]{4,}.*)$")
_CONTACT = re.compile(
    r"(?:tel|fax|電話|携帯|e-?mail|メール|〒|https?://|@|内線|住所|所属)\s*[:：]?", re.I)


def _lines(text: str) -> list[tuple[int, int, str]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line), line))
        pos += len(line) + 1
    return out


def parse(text: str) -> tuple[Segment, ...]:
    """Segments of ``text`` in order, covering every non-blank line exactly once."""
    lines = _lines(text)
    roles: list[str | None] = [None] * len(lines)
    n = len(lines)

    # subject on the first non-blank line
    first = next((k for k, (_, _, l) in enumerate(lines) if l.strip()), None)
    if first is not None and _SUBJECT.match(lines[first][2]):
        roles[first] = "subject"

    # quoted blocks
    k = 0
    while k < n:
        line = lines[k][2]
        if roles[k] is not None:
            k += 1
            continue
        if _QUOTE_OPENER.match(line):
            for j in range(k, n):
                roles[j] = "quote_header" if j == k else "quote"
            break
        if _ATTRIBUTION.search(line) and k > 0 or (_ATTRIBUTION.search(line) and k == 0 and n > 1):
            nxt = next((j for j in range(k + 1, n) if lines[j][2].strip()), None)
            roles[k] = "quote_header"
            if nxt is not None and not _QUOTE_LINE.match(lines[nxt][2]):
                for j in range(k + 1, n):
                    roles[j] = "quote"
                break
        elif _QUOTE_LINE.match(line):
            roles[k] = "quote"
        elif _HEADER_FIELD.match(line) and _header_block(lines, k):
            # a forwarded / pasted header block: it and everything below is earlier mail
            for j in range(k, n):
                roles[j] = "forward_header" if _HEADER_FIELD.match(lines[j][2]) else "quote"
            break
        k += 1

    # addressee lines at the top (株式会社X / カスタマーサポート 御中 / 山田様)
    top = [k for k in range(n) if roles[k] is None and lines[k][2].strip()][:3]
    for idx, k in enumerate(top):
        line = lines[k][2].strip()
        if len(line) > 40 or "。" in line or any(c in line for c in ":：【】「」"):
            break
        if _ADDRESSEE.search(line):
            for j in top[: idx + 1]:
                roles[j] = "addressee"

    _mark_signature(lines, roles)

    segs: list[Segment] = []
    for (s, e, line), role in zip(lines, roles):
        if not line.strip():
            continue
        role = role or "body"
        if segs and segs[-1].role == role and _gap_blank(text, segs[-1].end, s):
            segs[-1] = Segment(role, segs[-1].start, e)
        else:
            segs.append(Segment(role, s, e))
    return tuple(segs)


def _header_block(lines, k: int) -> bool:
    """Two or more header fields in the next three lines: a pasted mail header, not prose."""
    hits = sum(1 for j in range(k, min(k + 3, len(lines))) if _HEADER_FIELD.match(lines[j][2]))
    return hits >= 2


def _gap_blank(text: str, a: int, b: int) -> bool:
    return not text[a:b].strip()


def _mark_signature(lines, roles) -> None:
    """Mark the signature: after a rule line or a trailing block of contact details."""
    body = [k for k, r in enumerate(roles) if r is None and lines[k][2].strip()]
    if len(body) < 3:
        return
    last = body[-1]
    window = [k for k in body if k > last - 10]
    # a rule line (--, ----, ====, ━━━) opening a block of at most 8 lines before the end
    for k in window:
        if _SIG_RULE.match(lines[k][2]) and sum(1 for j in body if j > k) <= 8 and k != body[0]:
            rest = [j for j in body if j >= k]
            after = [lines[j][2] for j in rest[1:]]
            namecard = 2 <= len(after) <= 5 and all(len(x) <= 40 and not re.search(r"[。！？!?]", x) for x in after)
            if any(_CONTACT.search(lines[j][2]) for j in rest) or namecard:
                for j in rest:
                    roles[j] = "signature"
                return
    # no rule: a final block (after the last blank line) with contact details, short lines
    start = last
    while start - 1 >= 0 and lines[start - 1][2].strip() and roles[start - 1] is None:
        start -= 1
    block = [j for j in range(start, last + 1)]
    if (start > body[0] and len(block) <= 7 and any(_CONTACT.search(lines[j][2]) for j in block)
            and all(len(lines[j][2]) <= 60 and "。" not in lines[j][2] for j in block)):
        for j in block:
            roles[j] = "signature"


def customer_text(text: str, segments: tuple[Segment, ...] | None = None) -> MappedText:
    """The scored parts of ``text`` (subject and body) joined by newlines, mapped to ``text``."""
    segs = parse(text) if segments is None else segments
    parts = [MappedText.identity(text[s.start:s.end], s.start) for s in segs if s.scored]
    return MappedText.concat(parts, "\n")
