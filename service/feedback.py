"""Which scored message a verdict is about: ``POST /v1/feedback`` may name it by ``message``, the
store's id of a scored message as the console API gives it (``id`` of ``GET /v1/messages`` items and
of ``GET /v1/messages/{id}``). A reference that names no stored message, or a message of another
ticket or with another message id than the body also gives, is a 422, not a verdict stored on the
wrong message."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .errors import ApiError
from .storage import ScoredMessage, Store, StoreError


def resolve_message(store: Store, fb: dict) -> dict:
    """``fb`` checked against the scored message it names (unchanged when it names none), with the
    message's ticket filled in when the body gave no ``ticket_id``."""
    row_id = fb.get("message")
    if row_id is None:
        return fb
    t = ScoredMessage.__table__
    try:
        with store.engine.connect() as conn:
            row = conn.execute(select(t.c.ticket_id, t.c.message_key).where(t.c.id == row_id)).first()
    except SQLAlchemyError as e:
        raise StoreError(f"message unavailable: {type(e).__name__}") from None
    if row is None:
        raise ApiError(422, "unknown_message",
                       f"message {row_id}: no such scored message (use an id from GET /v1/messages)")
    if fb.get("ticket_id") and fb["ticket_id"] != row.ticket_id:
        raise ApiError(422, "reference_mismatch", f"message {row_id} is not a message of the ticket given")
    if fb.get("id") and store.key(fb["id"]) != row.message_key:
        raise ApiError(422, "reference_mismatch", f"message {row_id} does not have the message id given")
    return {**fb, "ticket_id": fb.get("ticket_id") or row.ticket_id}
