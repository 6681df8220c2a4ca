"""Analytics endpoints for analysts and the console: ``GET /v1/drift``."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from ..models.drift import card_reference, drift_report
from ..models.messages import InputError, parse_time
from .errors import ApiError
from .storage import StoreError

UTC = dt.timezone.utc


def _time(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)  # the inputs' own rule: naive times are Japan time
    except InputError:
        raise ApiError(422, "invalid_time", f"{name} is not an ISO-8601 date or time: {value[:40]!r}") from None


def analytics_router(auth) -> APIRouter:
    """The router; ``auth`` is the app's API-key dependency (same as every /v1/ endpoint)."""
    router = APIRouter(tags=["analytics"])

    @router.get("/v1/drift")
    async def drift(request: Request, actor: str = Depends(auth),
                    since: str | None = Query(None, description="ISO-8601 (default: `days` before until)"),
                    until: str | None = Query(None, description="ISO-8601 (default: now)"),
                    days: int = Query(30, ge=1, le=366),
                    reference: Literal["first", "card"] = Query(
                        "first", description="first day of the series, or the label rates of the model card's test data"),
                    threshold: float = Query(0.1, gt=0, le=1, description="absolute change of a rate that raises an alert"),
                    min_messages: int = Query(20, ge=1, description="a day needs this many messages to raise alerts")) -> dict:
        state = request.app.state
        end = _time(until, "until") or dt.datetime.now(UTC)
        try:
            start = _time(since, "since") or end - dt.timedelta(days=days)
        except OverflowError:
            raise ApiError(422, "invalid_range", "until is too early for that many days") from None
        if start >= end:
            raise ApiError(422, "invalid_range", "since must be before until")
        if state.store_error:
            raise ApiError(503, "store_unavailable", "the store is unavailable; retry later")
        try:
            rows = await run_in_threadpool(state.store.scored_rows, start, end)
        except StoreError as e:
            raise ApiError(503, "store_unavailable", str(e)) from None
        ref = card_reference(state.engine.model.card) if reference == "card" else None
        if reference == "card" and ref is None:
            raise ApiError(422, "no_reference", "the serving model's card has no test metrics to compare with")
        return drift_report(rows, start, end, ref, threshold, min_messages, tax=state.engine.taxonomy)

    return router
