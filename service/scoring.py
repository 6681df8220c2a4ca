"""Scoring as every HTTP entry point does it (API, batch, ticketing webhooks): history from the
store (or marked unavailable), the engine, the write-behind, the metrics — and the micro-batcher
that lets concurrent single-message requests share one engine call."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from ..models.engine import Engine
from ..models.messages import Message
from .storage import Store, StoreError

log = logging.getLogger("kasuhara.service")
UTC = dt.timezone.utc


def score_messages(state, items: list[tuple[Message, str | None]]) -> list[dict]:
    """Score ``(message, ticket_id)`` pairs with ``state.engine`` in one engine call; ``state``
    is the app state (engine, store, store_error, metrics). Each customer's history comes from
    the store (one query for the batch) plus its earlier messages in the batch, as if the
    messages had arrived one by one. Returns result dicts (with ``history`` when a customer is
    known), in order."""
    engine: Engine = state.engine
    store: Store = state.store
    now = dt.datetime.now(UTC)
    # a customer's message without a time arrived now: its history window ends now
    msgs = [dataclasses.replace(m, received_at=now) if m.customer_id is not None and m.received_at is None else m
            for m, _ in items]
    customers = {m.customer_id for m in msgs if m.customer_id is not None}
    history: dict = {}
    available = True
    if customers:
        times = [m.received_at for m in msgs if m.customer_id is not None]
        try:
            if state.store_error:
                raise StoreError(state.store_error)
            history = store.history_many(customers, min(times), max(times))
        except StoreError:
            available = False
    results = [r.as_dict() for r in engine.score_batch(msgs, history, history_available=available)]
    for msg, (_, ticket_id), result in zip(msgs, items, results):
        if not state.store_error:
            try:
                store.submit_result(result, msg, ticket_id, now)
            except (StoreError, SQLAlchemyError) as e:  # store down: the answer still goes out, the log says so
                log.warning(json.dumps({"event": "store_write_failed", "error": type(e).__name__}))
        state.metrics.observe(result)
    return results


def score_message(state, msg: Message, ticket_id: str | None) -> dict:
    """One message: :func:`score_messages` of one."""
    return score_messages(state, [(msg, ticket_id)])[0]


class MicroBatcher:
    """Concurrent single-message requests scored together. Requests queue here; one loop takes
    every request waiting (up to ``max_batch``) and scores them in one :func:`score_messages`
    call on a worker thread, while the next requests gather. An idle service scores a request
    at once (no waiting window); under load the engine's per-call cost is shared, and one
    scoring thread per process means no GIL hand-offs between competing scoring threads."""

    def __init__(self, state, max_batch: int = 32, score=score_messages):
        self.state = state
        self.max_batch = max_batch
        self.score_many = score  # (state, [(message, ticket_id)]) -> [result]
        self._pending: list[tuple[Message, str | None, asyncio.Future]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start the loop (inside the running event loop: the app's lifespan)."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kasuhara-micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for _, _, fut in self._pending:
            if not fut.done():
                fut.cancel()

    async def score(self, msg: Message, ticket_id: str | None) -> dict:
        if self._wake is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((msg, ticket_id, fut))
        self._wake.set()
        return await fut

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = [p for p in self._pending[:self.max_batch] if not p[2].done()]  # timed out: dropped
                del self._pending[:self.max_batch]
                if not batch:
                    continue
                try:
                    results = await run_in_threadpool(self.score_many, self.state, [(m, t) for m, t, _ in batch])
                except Exception:  # one bad message must not fail the others: score them one by one
                    for m, t, fut in batch:
                        await self._one(m, t, fut)
                    continue
                for (_, _, fut), result in zip(batch, results):
                    if not fut.done():
                        fut.set_result(result)

    async def _one(self, msg: Message, ticket_id: str | None, fut: asyncio.Future) -> None:
        try:
            result = (await run_in_threadpool(self.score_many, self.state, [(msg, ticket_id)]))[0]
        except Exception as e:  # handed to the waiting request, whose handler answers for it
            if not fut.done():
                fut.set_exception(e)
            return
        if not fut.done():
            fut.set_result(result)
