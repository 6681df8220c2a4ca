"""Read side of the store for the agent console: the queue of scored messages (filters, paging
by id), one message with its evidence, the customer's history and the feedback given on it.

Customer ids never leave the store in clear: the queue is filtered by the HMAC pseudonym
(``Store.key``), and rows show only the first characters of it."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from .storage import Feedback, ScoredMessage, Store, StoreError, _aware, _utc

PSEUDONYM_CHARS = 12  # what the console shows of a customer pseudonym
HISTORY_DAYS = (1, 7, 30)
RECENT_PER_CUSTOMER = 10


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Filters of the queue; ``customer_key`` is a pseudonym (``Store.key`` of the customer id)
    or its first ``PSEUDONYM_CHARS`` characters as the console shows them."""
    levels: tuple[str, ...] = ()
    label: str | None = None
    customer_key: str | None = None
    ticket_id: str | None = None
    before_id: int | None = None
    limit: int = 50


def _iso(t: dt.datetime | None) -> str | None:
    return _aware(t).isoformat() if t is not None else None


def _summary(r) -> dict:
    """A queue row: no customer words at all, whatever the level."""
    return {"id": r.id, "ticket_id": r.ticket_id, "received_at": _iso(r.received_at),
            "scored_at": _iso(r.scored_at), "level": r.level, "risk": r.risk, "harassment": r.harassment,
            "labels": list(r.labels or ()), "model_version": r.model_version,
            "customer": r.customer_key[:PSEUDONYM_CHARS] if r.customer_key else None,
            "text_stored": r.text is not None}


def _queue_query(t, f: QueueFilter):
    q = select(t)
    if f.levels:
        q = q.where(t.c.level.in_(f.levels))
    if f.label:  # labels is a JSON list of plain ids: match the quoted id in its text form
        q = q.where(cast(t.c.labels, String).like(f'%"{f.label}"%'))
    if f.customer_key:
        if len(f.customer_key) >= 64:
            q = q.where(t.c.customer_key == f.customer_key)
        else:
            q = q.where(t.c.customer_key.like(f.customer_key + "%"))
    if f.ticket_id:
        q = q.where(t.c.ticket_id == f.ticket_id)
    if f.before_id is not None:
        q = q.where(t.c.id < f.before_id)
    return q.order_by(t.c.id.desc()).limit(f.limit)


def list_messages(store: Store, f: QueueFilter) -> dict:
    """The newest scored messages first, ``f.limit`` at a time; ``next_before_id`` pages on."""
    t = ScoredMessage.__table__
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(_queue_query(t, f)).all()
    except SQLAlchemyError as e:
        raise StoreError(f"queue unavailable: {type(e).__name__}") from None
    items = [_summary(r) for r in rows]
    return {"items": items, "next_before_id": items[-1]["id"] if len(items) == f.limit else None}


def _evidence(detail: dict, text: str | None) -> list[dict]:
    """Evidence spans as stored (offsets), with their words when the text is still kept."""
    out = []
    for e in detail.get("evidence", ()):
        span = dict(e)
        span["text"] = text[e["start"]:e["end"]] if text is not None else None
        out.append(span)
    return out


def customer_history(conn, customer_key: str, now: dt.datetime) -> dict:
    """Counts of the customer's stored messages over 1 / 7 / 30 days, their levels and labels over
    30 days, and the latest few (queue rows), from the store rather than from one result; on the
    caller's connection (one per request)."""
    t = ScoredMessage.__table__
    now = _utc(now)
    since = now - dt.timedelta(days=max(HISTORY_DAYS))
    rows = conn.execute(select(t.c.received_at, t.c.level, t.c.labels, t.c.harassment)
                        .where(t.c.customer_key == customer_key, t.c.received_at >= since,
                               t.c.received_at <= now)).all()
    recent = conn.execute(select(t).where(t.c.customer_key == customer_key)
                          .order_by(t.c.id.desc()).limit(RECENT_PER_CUSTOMER)).all()
    total = conn.execute(select(func.count()).select_from(t).where(t.c.customer_key == customer_key)).scalar()
    counts = {f"messages_{d}d": sum(1 for r in rows if _aware(r[0]) >= now - dt.timedelta(days=d))
              for d in HISTORY_DAYS}
    labels: dict[str, int] = {}
    levels: dict[str, int] = {}
    for r in rows:
        levels[r[1]] = levels.get(r[1], 0) + 1
        for l in r[2] or ():
            labels[l] = labels.get(l, 0) + 1
    return {"customer": customer_key[:PSEUDONYM_CHARS], "customer_key": customer_key, "messages_total": total,
            **counts, "harassment_30d": sum(1 for r in rows if r[3]), "levels_30d": levels,
            "labels_30d": labels, "recent": [_summary(r) for r in recent]}


def _feedback(conn, row_id: int, ticket_id: str | None, message_key: str | None) -> list[dict]:
    """The feedback on one scored message: given on it (``scored_message_id``), and older feedback
    that names no message but its ticket or message id."""
    f = Feedback.__table__
    cond = f.c.scored_message_id == row_id
    legacy = []
    if ticket_id:
        legacy.append(f.c.ticket_id == ticket_id)
    if message_key:
        legacy.append(f.c.message_key == message_key)
    if legacy:
        cond = cond | (f.c.scored_message_id.is_(None) & or_(*legacy))
    rows = conn.execute(select(f).where(cond).order_by(f.c.id.desc()).limit(20)).all()
    return [{"feedback_id": r.id, "message": r.scored_message_id, "labels": list(r.labels),
             "harassment": r.harassment, "annotator": r.annotator, "comment": r.comment,
             "created_at": _iso(r.created_at)} for r in rows]


def _detail(conn, r, now: dt.datetime) -> dict:
    d = _summary(r)
    detail = r.detail or {}
    quoted = r.quoted or {}
    d.update({"scores": r.scores, "text": r.text, "text_expires_at": _iso(r.text_expires_at),
              "evidence": _evidence(detail, r.text), "actions": detail.get("actions", []),
              "history_at_scoring": detail.get("history"), "detail_stored": r.detail is not None,
              "demands": quoted.get("demands", []), "targets": quoted.get("targets", []),
              "feedback": _feedback(conn, r.id, r.ticket_id, r.message_key)})
    d["customer_history"] = customer_history(conn, r.customer_key, now) if r.customer_key else None
    return d


def get_message(store: Store, row_id: int, now: dt.datetime) -> dict | None:
    """One scored message for the detail view, or None."""
    return _one(store, ScoredMessage.__table__.c.id == row_id, now)


def latest_for_ticket(store: Store, ticket_id: str, now: dt.datetime) -> dict | None:
    """The latest scored message of a ticket (the widget and the badge show it), or None."""
    return _one(store, ScoredMessage.__table__.c.ticket_id == ticket_id, now)


def _one(store: Store, cond, now: dt.datetime) -> dict | None:
    t = ScoredMessage.__table__
    try:
        with store.engine.connect() as conn:
            r = conn.execute(select(t).where(cond).order_by(t.c.id.desc()).limit(1)).first()
            return _detail(conn, r, now) if r is not None else None
    except SQLAlchemyError as e:
        raise StoreError(f"message unavailable: {type(e).__name__}") from None


def latest_level(store: Store, ticket_id: str) -> str | None:
    """Only the level of a ticket's latest message (for the badge), or None."""
    t = ScoredMessage.__table__
    try:
        with store.engine.connect() as conn:
            return conn.execute(select(t.c.level).where(t.c.ticket_id == ticket_id)
                                .order_by(t.c.id.desc()).limit(1)).scalar()
    except SQLAlchemyError as e:
        raise StoreError(f"message unavailable: {type(e).__name__}") from None
