"""Ticketing-system webhooks: Zendesk and Zammad post a new ticket / article, the service
scores it and answers (and optionally pushes back) the tags to put on the ticket.

Mounted by the app with ``app.include_router(webhook_router(settings))``. An endpoint answers
``404 not_configured`` until its secret is set: unsigned calls are never accepted.

POST /webhooks/zendesk
    Auth: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(KASUHARA_ZENDESK_SIGNING_SECRET,
    timestamp + raw body)) with the timestamp from ``X-Zendesk-Webhook-Signature-Timestamp``
    (ISO-8601 as Zendesk sends it, e.g. ``2026-11-29T01:02:03Z``, or epoch seconds; a time
    without zone is UTC). Bad or missing signature -> 401 ``invalid_signature``; a timestamp
    more than ``KASUHARA_WEBHOOK_MAX_AGE_S`` (default 300) away from now, or unreadable ->
    401 ``stale_request``; the same signature again while its timestamp is in the window ->
    409 ``replayed_request``.

    Body (the project's format; set it as the JSON body of the Zendesk webhook / trigger)::

        {"ticket_id": "123" | 123,            # required
         "subject": "...",                    # optional
         "description": "...",                # required: the text that is scored
         "requester_id": "456" | 456,         # optional: enables the customer's history
         "created_at": "2026-11-29T10:02:03+09:00"}   # optional ISO-8601, naive = JST

    for example the trigger body ``{"ticket_id": "{{ticket.id}}", "subject": "{{ticket.title}}",
    "description": "{{ticket.description}}", "requester_id": "{{ticket.requester.id}}",
    "created_at": "{{ticket.created_at_with_timestamp}}"}``. The nested form
    ``{"ticket": {"id", "subject", "description", "requester": {"id"}, "created_at"}}`` is
    accepted as well (``ticket.requester_id`` when ``requester`` is absent).

POST /webhooks/zammad
    Auth: ``X-Hub-Signature: sha1=<hex HMAC-SHA1(KASUHARA_ZAMMAD_SECRET, raw body)>`` -> 401
    ``invalid_signature`` when bad or missing. Replays -> 409 ``replayed_request``: a
    ``X-Zammad-Delivery`` id seen before, and also the same signed body seen before (the
    delivery header is not covered by Zammad's signature, so the body is what an attacker
    cannot change); both are remembered for ``ZAMMAD_REPLAY_TTL_S``.

    Body: Zammad's webhook payload ``{"ticket": {"id", "title", "customer_id", ...},
    "article": {"body", "created_at", "content_type"?, ...}}``; ``article.body`` is scored
    (``text/html`` is reduced to text), ``ticket.title`` is the subject. Set the trigger to fire
    on customer articles only (condition "Article sender is Customer"): every article posted
    here is scored as a message of the ticket's customer.

Ids: the message id is ``zendesk-<ticket_id>`` / ``zammad-<ticket.id>`` (also the stored
ticket id, so feedback can refer to it), the customer ``zendesk-<requester_id>`` /
``zammad-<customer_id>``.

Answer (200)::

    {"ticket_id": "<the system's ticket id>",
     "tags": ["kasuhara_high", "kasuhara_threat", ...],   # kasuhara_<level> unless level is
                                                           # none, kasuhara_<label> per label
     "fields": {"kasuhara_level": "high", "kasuhara_risk": 0.93, "kasuhara_labels": "threat,..."},
     "result": {...as /v1/score...},
     "pushed": true | false, "push_error"?: "..."}

Push-back: with KASUHARA_ZENDESK_BASE_URL + _EMAIL + _TOKEN (or KASUHARA_ZAMMAD_BASE_URL +
_TOKEN) the tags are added to the ticket after scoring (``ticketing.py``). A failure is logged
and answered as ``"pushed": false, "push_error": "..."`` - never a 5xx, so the ticketing system
does not redeliver a scored ticket. Not configured, or no tags to add: ``"pushed": false``.

Other errors as the rest of the API, ``{"error": {"code", "message"}}``: 400 ``invalid_json``;
422 ``invalid_payload``, ``missing_ticket_id``, ``missing_description`` (Zendesk),
``missing_article_body`` (Zammad), ``invalid_<field>`` and the codes of ``message_from_dict``.

The replay memory is per process: with several workers a replay that lands on another worker is
not caught (the Zendesk timestamp window still bounds it).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import heapq
import hmac
import json
import logging
import re
import threading
import time
from html.parser import HTMLParser

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ..models.messages import InputError, message_from_dict, parse_time
from .errors import ApiError, error_response
from .scoring import score_message
from .settings import Settings
from .ticketing import TicketingError, ZammadClient, ZendeskClient

log = logging.getLogger("kasuhara.service")
UTC = dt.timezone.utc

MAX_REMEMBERED = 50_000  # per system; the oldest entries go first when full
ZAMMAD_REPLAY_TTL_S = 24 * 3600
MAX_ID_CHARS = 100
MAX_SUBJECT_CHARS = 2000
PUSH_SHARE_OF_TIMEOUT = 0.8  # the push-back must end before the request time limit
_EPOCH = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")  # no sign, exponent, nan or inf


class SeenSet:
    """Keys with an expiry (wall-clock seconds), bounded in size, thread-safe."""

    def __init__(self, max_items: int = MAX_REMEMBERED):
        self.max_items = max_items
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def _drop(self, exp: float, key: str) -> None:
        if self._expiry.get(key) == exp:
            del self._expiry[key]

    def claim(self, keys: list[str], expires_at: float, now: float | None = None) -> bool:
        """Remember ``keys`` and return True, or return False when one is already remembered."""
        now = time.time() if now is None else now
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                self._drop(*heapq.heappop(self._heap))
            if any(k in self._expiry for k in keys):
                return False
            for k in keys:
                while len(self._expiry) >= self.max_items and self._heap:
                    self._drop(*heapq.heappop(self._heap))
                self._expiry[k] = expires_at
                heapq.heappush(self._heap, (expires_at, k))
            if len(self._heap) > 4 * self.max_items + 16:  # stale entries left by release()
                self._heap = [(e, k) for k, e in self._expiry.items()]
                heapq.heapify(self._heap)
            return True

    def release(self, keys: list[str]) -> None:
        """Forget ``keys`` (the call failed on our side: a redelivery must be accepted)."""
        with self._lock:
            for k in keys:
                self._expiry.pop(k, None)

    def __len__(self) -> int:
        return len(self._expiry)


class _TextOnly(HTMLParser):
    BREAKS = {"br", "p", "div", "li", "tr", "table", "ul", "ol", "blockquote", "pre", "hr",
              "h1", "h2", "h3", "h4", "h5", "h6"}
    SKIP = {"script", "style", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Tags out, entities decoded, block elements as line breaks, blank-line runs collapsed."""
    p = _TextOnly()
    p.feed(html)
    p.close()
    lines, blank = [], False
    for line in "".join(p.parts).splitlines():
        line = line.strip()
        if line or not blank:
            lines.append(line)
        blank = not line
    return "\n".join(lines).strip()


# -- payload helpers -------------------------------------------------------------------------
def _ident(value, field: str, required: bool) -> str | None:
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        if required:
            raise ApiError(422, f"missing_{field}", f"field '{field}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ApiError(422, f"invalid_{field}", f"field '{field}' must be a string or an integer")
    value = str(value)
    if len(value) > MAX_ID_CHARS:
        raise ApiError(422, f"invalid_{field}", f"field '{field}' is over {MAX_ID_CHARS} characters")
    return value


def _optional_str(value, field: str, limit: int | None = None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(422, f"invalid_{field}", f"field '{field}' must be a string")
    if limit is not None and len(value) > limit:
        raise ApiError(422, f"invalid_{field}", f"field '{field}' is over {limit} characters")
    return value


def _text(value, field: str, missing_code: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ApiError(422, missing_code, f"field '{field}' is required and must not be empty")
    if not isinstance(value, str):
        raise ApiError(422, f"invalid_{field.rsplit('.', 1)[-1]}", f"field '{field}' must be a string")
    return value


def _time(value, field: str) -> str | None:
    value = _optional_str(value, field.rsplit(".", 1)[-1], 64)
    if value is not None:
        try:
            parse_time(value)
        except InputError:
            raise ApiError(422, f"invalid_{field.rsplit('.', 1)[-1]}", f"field '{field}' is not ISO-8601") from None
    return value


def _parse_json(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None


def zendesk_fields(obj) -> dict:
    """The scoring input of a Zendesk payload (flat or nested form); raises ``ApiError``."""
    if not isinstance(obj, dict):
        raise ApiError(422, "invalid_payload", "the body must be a JSON object")
    t = obj.get("ticket")
    if isinstance(t, dict):
        requester = t.get("requester")
        rid = requester.get("id") if isinstance(requester, dict) else t.get("requester_id")
        src = {"ticket_id": t.get("id"), "subject": t.get("subject"), "description": t.get("description"),
               "requester_id": rid, "created_at": t.get("created_at")}
    else:
        src = obj
    return {"ticket_id": _ident(src.get("ticket_id"), "ticket_id", True),
            "customer": _ident(src.get("requester_id"), "requester_id", False),
            "subject": _optional_str(src.get("subject"), "subject", MAX_SUBJECT_CHARS),
            "text": _text(src.get("description"), "description", "missing_description"),
            "created_at": _time(src.get("created_at"), "created_at")}


def zammad_fields(obj) -> dict:
    """The scoring input of a Zammad webhook payload; raises ``ApiError``."""
    if not isinstance(obj, dict) or not isinstance(obj.get("ticket"), dict):
        raise ApiError(422, "invalid_payload", "the body must be a JSON object with a 'ticket' object")
    ticket, article = obj["ticket"], obj.get("article")
    if not isinstance(article, dict):
        raise ApiError(422, "missing_article_body", "field 'article.body' is required and must not be empty")
    body = _text(article.get("body"), "article.body", "missing_article_body")
    ctype = article.get("content_type")
    if isinstance(ctype, str) and ctype.split(";", 1)[0].strip().lower() == "text/html":
        body = html_to_text(body)
        if not body:
            raise ApiError(422, "missing_article_body", "field 'article.body' has no text")
    return {"ticket_id": _ident(ticket.get("id"), "ticket_id", True),
            "customer": _ident(ticket.get("customer_id"), "customer_id", False),
            "subject": _optional_str(ticket.get("title"), "title", MAX_SUBJECT_CHARS),
            "text": body,
            "created_at": _time(article.get("created_at"), "article.created_at")}


def zendesk_timestamp(value: str) -> float | None:
    """Epoch seconds of the signature timestamp header (ISO-8601 or epoch seconds), or None."""
    value = value.strip()
    if _EPOCH.fullmatch(value):
        return float(value)
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        t = dt.datetime.fromisoformat(value)
        return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        return None


def tags_for(result: dict) -> list[str]:
    tags = [f"kasuhara_{result['level']}"] if result["level"] != "none" else []
    return tags + [f"kasuhara_{label}" for label in result["labels"]]


def _reject_log(system: str, code: str) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(json.dumps({"event": "webhook_rejected", "system": system, "code": code}))


# -- the router -----------------------------------------------------------------------------
def webhook_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["webhooks"])
    zendesk_seen, zammad_seen = SeenSet(), SeenSet()

    zendesk_push = zammad_push = None
    zd = (settings.zendesk_base_url, settings.zendesk_email, settings.zendesk_token)
    if all(zd):
        zendesk_push = ZendeskClient(*zd)
    elif any(zd):
        log.warning(json.dumps({"event": "pushback_incomplete", "system": "zendesk",
                                "message": "set KASUHARA_ZENDESK_BASE_URL, _EMAIL and _TOKEN to push tags"}))
    zm = (settings.zammad_base_url, settings.zammad_token)
    if all(zm):
        zammad_push = ZammadClient(*zm)
    elif any(zm):
        log.warning(json.dumps({"event": "pushback_incomplete", "system": "zammad",
                                "message": "set KASUHARA_ZAMMAD_BASE_URL and _TOKEN to push tags"}))

    async def score_and_answer(system: str, request: Request, f: dict, push, started: float) -> dict:
        obj = {"text": f["text"], "id": f"{system}-{f['ticket_id']}", "subject": f["subject"],
               "customer_id": f"{system}-{f['customer']}" if f["customer"] else None,
               "received_at": f["created_at"]}
        try:
            msg = message_from_dict(obj, settings.max_text_chars)
        except InputError as e:
            raise ApiError(422, e.code, e.message) from None
        result = await run_in_threadpool(score_message, request.app.state, msg, f"{system}-{f['ticket_id']}")
        tags = tags_for(result)
        answer = {"ticket_id": f["ticket_id"], "tags": tags,
                  "fields": {"kasuhara_level": result["level"], "kasuhara_risk": result["risk"],
                             "kasuhara_labels": ",".join(result["labels"])},
                  "result": result, "pushed": False}
        if push is not None and tags:
            deadline = started + PUSH_SHARE_OF_TIMEOUT * settings.request_timeout_s
            try:
                await run_in_threadpool(push.add_tags, f["ticket_id"], tags, deadline)
                answer["pushed"] = True
            except Exception as e:  # the scoring stands; the ticketing system must not redeliver
                reason = str(e) if isinstance(e, TicketingError) else f"unexpected {type(e).__name__}"
                answer["push_error"] = reason
                log.warning(json.dumps({"event": "pushback_failed", "system": system,
                                        "ticket_id": f["ticket_id"], "error": reason}))
        return answer

    async def claim_and_score(system, seen, keys, expires, now, replay_message, request, raw, fields_of,
                              push, started):
        """Replay check, payload, scoring; on our own failure the claim is released so that the
        ticketing system's redelivery gets through."""
        if not seen.claim(keys, expires, now):
            _reject_log(system, "replayed_request")
            return error_response(409, "replayed_request", replay_message)
        try:
            return await score_and_answer(system, request, fields_of(_parse_json(raw)), push, started)
        except ApiError as r:
            return error_response(r.status, r.code, r.message)
        except BaseException:  # our failure (or the time limit): release, then let it propagate
            seen.release(keys)
            raise

    @router.post("/webhooks/zendesk", summary="Zendesk webhook: score a ticket, answer its tags")
    async def zendesk(request: Request):
        started = time.monotonic()
        secret = settings.zendesk_signing_secret
        if not secret:
            return error_response(404, "not_configured", "the Zendesk webhook is not configured")
        raw = await request.body()
        sig = request.headers.get("x-zendesk-webhook-signature", "").strip()
        stamp = request.headers.get("x-zendesk-webhook-signature-timestamp", "")
        expected = base64.b64encode(hmac.new(secret.encode(), stamp.encode("latin-1") + raw,
                                             hashlib.sha256).digest())
        if not sig or not stamp or not hmac.compare_digest(sig.encode("latin-1"), expected):
            _reject_log("zendesk", "invalid_signature")
            return error_response(401, "invalid_signature",
                                  "X-Zendesk-Webhook-Signature is missing or does not verify")
        when, now = zendesk_timestamp(stamp), time.time()
        if when is None or abs(now - when) > settings.webhook_max_age_s:
            _reject_log("zendesk", "stale_request")
            return error_response(401, "stale_request", f"the signature timestamp is unreadable or over "
                                                        f"{settings.webhook_max_age_s} s away from now")
        return await claim_and_score("zendesk", zendesk_seen, [sig], when + settings.webhook_max_age_s + 1, now,
                                     "this signed request was already received", request, raw, zendesk_fields,
                                     zendesk_push, started)

    @router.post("/webhooks/zammad", summary="Zammad webhook: score an article, answer its tags")
    async def zammad(request: Request):
        started = time.monotonic()
        secret = settings.zammad_secret
        if not secret:
            return error_response(404, "not_configured", "the Zammad webhook is not configured")
        raw = await request.body()
        given = request.headers.get("x-hub-signature", "").strip()
        expected = "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()
        if not given.startswith("sha1=") or not hmac.compare_digest(
                ("sha1=" + given[5:].lower()).encode("latin-1"), expected.encode("ascii")):
            _reject_log("zammad", "invalid_signature")
            return error_response(401, "invalid_signature", "X-Hub-Signature is missing or does not verify")
        keys = ["body:" + hashlib.sha256(raw).hexdigest()]
        delivery = request.headers.get("x-zammad-delivery", "").strip()
        if delivery:
            keys.append("delivery:" + delivery[:200])
        now = time.time()
        return await claim_and_score("zammad", zammad_seen, keys, now + ZAMMAD_REPLAY_TTL_S, now,
                                     "this delivery was already received", request, raw, zammad_fields,
                                     zammad_push, started)

    return router
