"""The input message and its validation, shared by the CLI and the service."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

CHANNELS = ("email", "web_form", "chat", "phone_memo")
MAX_TEXT_CHARS = 100_000


class InputError(ValueError):
    """A message that cannot be scored; ``code`` is stable API for error records."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    id: str | None = None
    subject: str | None = None
    customer_id: str | None = None
    received_at: dt.datetime | None = None
    channel: str | None = None


def parse_time(value: str) -> dt.datetime:
    """ISO-8601 to an aware datetime (naive times are taken as JST, the product's home)."""
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise InputError("invalid_received_at", f"received_at is not ISO-8601: {value[:40]!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone(dt.timedelta(hours=9)))
    return t


def _has_lone_surrogate(s: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in s)


def record_id(obj) -> str | None:
    """The id to put on an error record for ``obj``: its ``id`` when that is a string that can
    be written back as UTF-8, else None (a lone surrogate would break the output)."""
    rid = obj.get("id") if isinstance(obj, dict) else None
    return rid if isinstance(rid, str) and not _has_lone_surrogate(rid) else None


def message_from_dict(obj, max_chars: int = MAX_TEXT_CHARS) -> Message:
    """Validate one JSON input object; raises :class:`InputError` with a clear code."""
    if not isinstance(obj, dict):
        raise InputError("invalid_type", "a message must be a JSON object")
    text = obj.get("text")
    if text is None:
        raise InputError("missing_text", "field 'text' is required")
    if not isinstance(text, str):
        raise InputError("invalid_text", "field 'text' must be a string")
    if not text.strip():
        raise InputError("empty_text", "field 'text' is empty")
    if len(text) > max_chars:
        raise InputError("text_too_long", f"field 'text' has {len(text)} characters; the limit is {max_chars}")
    for key in ("id", "subject", "customer_id", "received_at", "channel"):
        v = obj.get(key)
        if v is not None and not isinstance(v, str):
            raise InputError(f"invalid_{key}", f"field '{key}' must be a string")
    for key in ("text", "subject", "id", "customer_id"):
        v = obj.get(key)
        if isinstance(v, str) and _has_lone_surrogate(v):
            raise InputError("invalid_unicode", f"field '{key}' holds an unpaired surrogate")
    channel = obj.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise InputError("invalid_channel", f"channel must be one of {', '.join(CHANNELS)}")
    received = parse_time(obj["received_at"]) if obj.get("received_at") else None
    return Message(text=text, id=obj.get("id"), subject=obj.get("subject"),
                   customer_id=obj.get("customer_id"), received_at=received, channel=channel)
