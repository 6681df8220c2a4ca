"""One scoring call as every HTTP entry point makes it (API, batch, ticketing webhooks):
history from the store (or marked unavailable), the engine, the write-behind, the metrics."""
from __future__ import annotations

import datetime as dt
import json
import logging

from sqlalchemy.exc import SQLAlchemyError

from ..models.engine import Engine
from ..models.messages import Message
from .storage import Store, StoreError

log = logging.getLogger("kasuhara.service")
UTC = dt.timezone.utc


def score_message(state, msg: Message, ticket_id: str | None) -> dict:
    """Score ``msg`` with ``state.engine``; ``state`` is the app state (engine, store,
    store_error, metrics). Returns the result dict (with ``history`` when a customer is known)."""
    engine: Engine = state.engine
    store: Store = state.store
    now = dt.datetime.now(UTC)
    history, available = None, True
    if msg.customer_id is not None:
        try:
            if state.store_error:
                raise StoreError(state.store_error)
            history = store.history(msg.customer_id, msg.received_at or now)
        except StoreError:
            available = False
    result = engine.score(msg, history, history_available=available).as_dict()
    if not state.store_error:
        try:
            store.submit_result(result, msg, ticket_id, now)
        except (StoreError, SQLAlchemyError) as e:  # store down: the answer still goes out, the log says so
            log.warning(json.dumps({"event": "store_write_failed", "error": type(e).__name__}))
    state.metrics.observe(result)
    return result
