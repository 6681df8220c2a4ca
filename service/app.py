"""The HTTP service: translates HTTP <-> engine calls, nothing more.

Contract: shared/design/contract.md. Settings come from the environment (``Settings``),
the engine is loaded once in the lifespan hook, domain errors map to 4xx JSON
``{"error": {"code", "message"}}``, logs are JSON lines without message text.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import itertools
import json
import logging
import os
import threading
import time
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..models.engine import Engine
from ..models.messages import InputError, message_from_dict, record_id
from .settings import Settings

from .console import console_router
from .errors import ApiError, error_response
from .feedback import resolve_message
from .ratelimit import make_limiter
from .analytics import analytics_router
from .reload import serving_model_path, settle_heap, start_reloader
from .scoring import MicroBatcher, score_messages
from .storage import Store, StoreError
from .webhooks import webhook_router

log = logging.getLogger("kasuhara.service")
UTC = dt.timezone.utc
DRAIN_CAP = 64 * 1024 * 1024  # an oversized body is read and dropped up to this size before the 413


# -- request bodies ------------------------------------------------------------------------
Channel = Literal["email", "web_form", "chat", "phone_memo"]


class ScoreIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str = Field(description="the message as received")
    id: str | None = Field(None, max_length=200)
    subject: str | None = Field(None, max_length=2000)
    customer_id: str | None = Field(None, max_length=200)
    received_at: str | None = Field(None, max_length=64, description="ISO-8601")
    channel: Channel | None = None
    ticket_id: str | None = Field(None, max_length=200)


class BatchIn(BaseModel):
    items: list[dict] = Field(description="input objects as for /v1/score")


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ticket_id: str | None = Field(None, max_length=200)
    id: str | None = Field(None, max_length=200)
    labels: list[str] = Field(max_length=15)
    harassment: bool
    annotator: str | None = Field(None, max_length=200)
    comment: str | None = Field(None, max_length=5000)
    message: int | None = Field(None, ge=1, le=2**62, strict=True,
                                description="the scored message judged: an id from GET /v1/messages")


# -- small helpers ---------------------------------------------------------------------------
class Metrics:
    def __init__(self, version: str):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.latency = Histogram("kasuhara_request_seconds", "request latency", ["endpoint"],
                                 registry=self.registry,
                                 buckets=(0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5))
        self.requests = Counter("kasuhara_requests_total", "requests", ["endpoint", "status"], registry=self.registry)
        self.labels = Counter("kasuhara_labels_total", "labels assigned", ["label"], registry=self.registry)
        self.levels = Counter("kasuhara_levels_total", "results per level", ["level"], registry=self.registry)
        self.model = Gauge("kasuhara_model_info", "serving model", ["version"], registry=self.registry)
        self.model.labels(version=version).set(1)

    def observe(self, result: dict) -> None:
        self.levels.labels(level=result["level"]).inc()
        for l in result["labels"]:
            self.labels.labels(label=l).inc()


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


class GuardMiddleware:
    """Pure ASGI middleware: request id, body-size limit (413 after draining the body), a
    per-request time limit, latency metrics and a JSON log line without message text."""

    def __init__(self, app, max_body_bytes: int, timeout_s: float):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self._rid_prefix = os.urandom(6).hex()  # request ids: random per process, then a counter
        self._rid_seq = itertools.count(1)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        headers = dict(scope.get("headers") or ())
        rid = (headers.get(b"x-request-id") or b"").decode("latin-1")[:64] or f"{self._rid_prefix}{next(self._rid_seq):08x}"
        status = {"code": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = list(message.get("headers", [])) + [(b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            seen = 0
            while seen <= DRAIN_CAP:  # drop the body so the client reads the answer, not a reset
                msg = await receive()
                seen += len(msg.get("body", b""))
                if not msg.get("more_body"):
                    break
            resp = error_response(413, "body_too_large", f"request body over {self.max_body_bytes} bytes")
            await resp(scope, receive, send_with_id)
        else:
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self.app(scope, receive, send_with_id)
            except TimeoutError:
                if status["code"] == 500:  # nothing sent yet
                    resp = error_response(503, "timeout", "the request took too long; retry later")
                    await resp(scope, receive, send_with_id)
        dt_s = time.perf_counter() - t0
        path = scope.get("path", "")
        state = scope["app"].state if "app" in scope else None
        metrics = getattr(state, "metrics", None)
        if metrics is not None and path.startswith(("/v1/", "/healthz", "/readyz")):
            # the route's template: no ids, and no label per path a scanner makes up
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            metrics.latency.labels(endpoint=endpoint).observe(dt_s)
            metrics.requests.labels(endpoint=endpoint, status=str(status["code"])).inc()
        if log.isEnabledFor(logging.INFO):
            log.info(json.dumps({"event": "request", "request_id": rid, "method": scope.get("method"),
                                 "path": path, "status": status["code"], "ms": round(dt_s * 1000, 1)}))


STORE_RETRY_S = 10.0  # /readyz tries an unreachable store again at most this often


def connect_store(state, attempts: int = 1) -> None:
    """Bring the store up to date (Alembic) and start its writer; on failure the service still
    scores and ``state.store_error`` says why. Several attempts at start: another worker may be
    running the same first migration. Later calls (from /readyz) recover a store that was down."""
    with state.store_lock:
        if not state.store_error:
            return
        for attempt in range(attempts):
            try:
                state.store.migrate()
            except Exception as e:  # any driver error: the service still scores, /readyz says why
                state.store_error = f"{type(e).__name__}: {str(e)[:200]}"
                if attempt + 1 < attempts:
                    time.sleep(0.5 * (attempt + 1))
            else:
                state.store.start_writer()
                state.store_error = None
                return
        log.warning(json.dumps({"event": "store_unavailable", "error": state.store_error}))


# -- the app --------------------------------------------------------------------------------
def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = engine or Engine.load(serving_model_path(settings), settings.policy_path, settings.cascade)
        app.state.store = Store(settings.database_url, store_text=settings.store_text,
                                retention_days=settings.retention_days)
        app.state.store_error = "not connected yet"
        app.state.store_lock = threading.Lock()
        app.state.store_retry_at = 0.0
        connect_store(app.state, attempts=3)
        app.state.metrics = Metrics(app.state.engine.version)
        app.state.limiter = make_limiter(settings.rate_limit_per_minute, settings.redis_url)
        if not settings.api_keys:
            log.warning(json.dumps({"event": "local_mode", "message": "KASUHARA_API_KEYS is unset: no authentication"}))
        app.state.batcher = MicroBatcher(app.state, settings.micro_batch)
        app.state.batcher.start()
        app.state.reloader = start_reloader(app, settings)  # switches to a promoted registry version
        settle_heap()
        yield
        if app.state.reloader is not None:
            app.state.reloader.stop()
        await app.state.batcher.stop()
        app.state.store.stop_writer()

    app = FastAPI(title="kasuhara", version="1", lifespan=lifespan,
                  description="Customer-harassment screening for Japanese customer messages")
    app.state.settings = settings
    app.add_middleware(GuardMiddleware, max_body_bytes=settings.max_body_bytes,
                       timeout_s=settings.request_timeout_s)
    app.include_router(webhook_router(settings))

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errs = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errs):
            return error_response(400, "invalid_json", "the body is not valid JSON")
        first = errs[0] if errs else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return error_response(422, "invalid_request", f"{where or 'body'}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(UnicodeDecodeError)
    async def _unicode(request: Request, exc: UnicodeDecodeError):
        return error_response(400, "invalid_encoding", "the body is not UTF-8")

    async def auth(request: Request) -> str:  # async: a sync dependency would cost a thread hop per request
        keys = settings.api_keys
        if not keys:
            return "local"
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        ok = scheme.lower() == "bearer" and any(hmac.compare_digest(token.encode(), k.encode()) for k in keys)
        if not ok:
            raise ApiError(401, "unauthorized", "a valid 'Authorization: Bearer <key>' is required",
                           {"WWW-Authenticate": "Bearer"})
        actor = fingerprint(token)
        limiter = request.app.state.limiter
        if not (await run_in_threadpool(limiter.allow, actor) if limiter.blocking else limiter.allow(actor)):
            raise ApiError(429, "rate_limited", "too many requests for this key; retry in a minute",
                           {"Retry-After": "60"})
        return actor

    app.include_router(console_router(settings, auth))
    app.include_router(analytics_router(auth))

    def to_message(obj: dict):
        try:
            return message_from_dict(obj, settings.max_text_chars)
        except InputError as e:
            raise ApiError(422, e.code, e.message) from None

    @app.post("/v1/score", tags=["scoring"])
    async def score(body: ScoreIn, request: Request, actor: str = Depends(auth)) -> dict:
        msg = to_message(body.model_dump())
        # a JSONResponse skips FastAPI's generic re-encoding of the (plain JSON) result
        return JSONResponse(await request.app.state.batcher.score(msg, body.ticket_id))

    @app.post("/v1/score/batch", tags=["scoring"])
    async def score_batch(body: BatchIn, request: Request, actor: str = Depends(auth)) -> dict:
        if len(body.items) > settings.max_batch_items:
            raise ApiError(422, "batch_too_large",
                           f"{len(body.items)} items; at most {settings.max_batch_items} per batch")

        def run():
            out: list[dict | None] = []
            valid: list[tuple[int, tuple]] = []
            for obj in body.items:
                try:
                    msg = message_from_dict(obj, settings.max_text_chars)
                except InputError as e:
                    out.append({"id": record_id(obj), "error": {"code": e.code, "message": e.message}})
                    continue
                ticket = obj.get("ticket_id") if isinstance(obj.get("ticket_id"), str) else None
                valid.append((len(out), (msg, ticket)))
                out.append(None)
            for lo in range(0, len(valid), settings.micro_batch):  # one engine call per chunk
                chunk = valid[lo:lo + settings.micro_batch]
                for (k, _), result in zip(chunk, score_messages(request.app.state, [item for _, item in chunk])):
                    out[k] = result
            return out

        return JSONResponse({"results": await run_in_threadpool(run)})

    @app.get("/v1/categories", tags=["reference"])
    async def categories(request: Request, actor: str = Depends(auth)) -> dict:
        tax = request.app.state.engine.taxonomy
        return {"categories": [c.as_dict() for c in tax.categories], "source": tax.source,
                "definition": tax.definition}

    @app.post("/v1/feedback", status_code=201, tags=["feedback"])
    async def feedback(body: FeedbackIn, request: Request, actor: str = Depends(auth)) -> dict:
        if not body.ticket_id and not body.id and body.message is None:
            raise ApiError(422, "missing_reference", "give ticket_id, id or message (an id from GET /v1/messages)")
        tax = request.app.state.engine.taxonomy
        unknown = sorted(set(body.labels) - set(tax.ids))
        if unknown:
            raise ApiError(422, "unknown_label", f"unknown label ids: {unknown}")
        if request.app.state.store_error:
            raise ApiError(503, "store_unavailable", "feedback cannot be stored right now; retry later")
        fb = body.model_dump()
        fb["labels"] = tax.order(body.labels)
        store = request.app.state.store
        try:
            return await run_in_threadpool(lambda: store.save_feedback(resolve_message(store, fb), actor,
                                                                       dt.datetime.now(UTC)))
        except StoreError as e:
            raise ApiError(503, "store_unavailable", str(e)) from None

    @app.get("/v1/model", tags=["reference"])
    async def model_card(request: Request, actor: str = Depends(auth)) -> dict:
        card = dict(request.app.state.engine.model.card)
        card["metrics"] = {name: {sys: {k: v for k, v in m.items() if k != "per_label"}
                                  for sys, m in table.get("systems", {}).items()}
                           for name, table in card.get("metrics", {}).items()}
        return card

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz(request: Request):
        state = request.app.state
        if getattr(state, "engine", None) is None:
            return error_response(503, "not_ready", "model not loaded")
        problems = []
        if state.store_error and time.monotonic() >= state.store_retry_at:  # down at start: try again
            state.store_retry_at = time.monotonic() + STORE_RETRY_S
            await run_in_threadpool(connect_store, state)
        if state.store_error:
            problems.append(f"store: {state.store_error}")
        else:
            try:
                await run_in_threadpool(state.store.ping)
            except StoreError as e:
                problems.append(f"store: {e}")
        body = {"status": "ready" if not problems else "degraded", "model_version": state.engine.version,
                "store": "ok" if not problems else problems[0]}
        return JSONResponse(body, status_code=200 if not problems else 503)

    @app.get("/metrics", tags=["operations"])
    async def metrics(request: Request):
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
