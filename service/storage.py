"""The store: scored messages (pseudonymised ids), customer history, feedback and an audit
trail, with SQLAlchemy 2 (SQLite by default, PostgreSQL via KASUHARA_DATABASE_URL) and Alembic
migrations. Raw text is kept only when the retention setting allows it, and only until it expires."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import queue
import threading
import time
from pathlib import Path

from sqlalchemy import (JSON, Boolean, DateTime, Float, Index, Integer, String, Text, create_engine, event,
                        select, text, update)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ..models.persistence import HistoryItem

UTC = dt.timezone.utc
log = logging.getLogger("kasuhara.service")


class Base(DeclarativeBase):
    pass


class ScoredMessage(Base):
    __tablename__ = "scored_message"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_key: Mapped[str | None] = mapped_column(String(64), index=True)
    ticket_id: Mapped[str | None] = mapped_column(String(200), index=True)
    customer_key: Mapped[str | None] = mapped_column(String(64), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    scored_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    harassment: Mapped[bool] = mapped_column(Boolean)
    risk: Mapped[float] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(16))
    labels: Mapped[list] = mapped_column(JSON)
    scores: Mapped[dict] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    text_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    detail: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # evidence offsets (no text), actions, history
    quoted: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # demands/targets quote the customer: kept like text
    __table_args__ = (Index("ix_scored_message_level", "level"),)


class Feedback(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str | None] = mapped_column(String(200), index=True)
    message_key: Mapped[str | None] = mapped_column(String(64), index=True)
    scored_message_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the message judged (0003)
    labels: Mapped[list] = mapped_column(JSON)
    harassment: Mapped[bool] = mapped_column(Boolean)
    annotator: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    ticket_id: Mapped[str | None] = mapped_column(String(200))
    message_key: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON)


class StoreError(RuntimeError):
    """The store could not be reached or written."""


def _aware(t: dt.datetime) -> dt.datetime:
    """Read back: SQLite returns naive datetimes; everything is stored in UTC."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _utc(t: dt.datetime) -> dt.datetime:
    """Write and query in UTC (SQLite keeps no offset; mixing offsets would compare wrongly)."""
    return t.astimezone(UTC) if t.tzinfo is not None else t.replace(tzinfo=UTC)


def result_detail(result: dict) -> tuple[dict, dict]:
    """What the console shows besides labels and scores, split in two: ``detail`` holds no customer
    words (evidence as offsets into the text, actions, history), ``quoted`` does (demands, targets)."""
    detail = {"evidence": [{k: v for k, v in e.items() if k != "text"} for e in result.get("evidence", ())],
              "actions": list(result.get("actions", ())), "history": result.get("history")}
    return detail, {"demands": result.get("demands", []), "targets": result.get("targets", [])}


class Store:
    def __init__(self, url: str, id_salt: str = "kasuhara", store_text: bool = False, retention_days: int = 90):
        # No ping on every checkout: on a busy host each round trip to the database sits in the
        # path of every request. Connections are renewed after 30 minutes (before idle timeouts of
        # servers and firewalls), and one that died anyway fails its query (history reported
        # unavailable, the write retried), after which the pool replaces its connections.
        kwargs: dict = {"pool_recycle": 1800}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(dbapi_conn, _):  # concurrent writers: WAL and a busy timeout
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit does not wait for fsync; still consistent
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()
        self.url = url
        self._salt = id_salt.encode()
        self.store_text = store_text
        self.retention = dt.timedelta(days=retention_days)

    def key(self, value: str | None) -> str | None:
        """A pseudonym for an id (HMAC-SHA256 with the installation's salt)."""
        if value is None:
            return None
        return hmac.new(self._salt, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as e:
            raise StoreError(f"store unreachable: {type(e).__name__}") from None

    def history(self, customer_id: str, now: dt.datetime, days: int = 7) -> list[HistoryItem]:
        """The customer's messages in the ``days`` before ``now``."""
        return self.history_many([customer_id], now, now, days)[customer_id]

    def history_many(self, customer_ids, earliest: dt.datetime, latest: dt.datetime,
                     days: int = 7) -> dict[str, list[HistoryItem]]:
        """Each customer's messages from ``days`` before ``earliest`` up to ``latest``, in one
        query (a batch of messages asks once); the engine keeps to each message's own window."""
        keys = {self.key(c): c for c in customer_ids}
        out: dict[str, list[HistoryItem]] = {c: [] for c in keys.values()}
        if not keys:
            return out
        since, until = _utc(earliest) - dt.timedelta(days=days), _utc(latest)
        t = ScoredMessage.__table__
        try:
            with self.engine.connect() as conn:  # Core, not the ORM: this runs on every request
                rows = conn.execute(select(t.c.customer_key, t.c.received_at, t.c.labels, t.c.risk)
                                    .where(t.c.customer_key.in_(list(keys)), t.c.received_at >= since,
                                           t.c.received_at <= until)).all()
        except SQLAlchemyError as e:
            raise StoreError(f"history unavailable: {type(e).__name__}") from None
        for key, at, labels, risk in rows:
            out[keys[key]].append(HistoryItem(_aware(at), tuple(labels or ()), float(risk)))
        return out

    def _result_values(self, result: dict, message, ticket_id: str | None, now: dt.datetime) -> dict:
        keep = self.store_text
        detail, quoted = result_detail(result)
        return {"message_key": self.key(message.id), "ticket_id": ticket_id,
                "customer_key": self.key(message.customer_id), "received_at": _utc(message.received_at or now),
                "scored_at": _utc(now), "harassment": result["harassment"], "risk": result["risk"],
                "level": result["level"], "labels": result["labels"], "scores": result["scores"],
                "model_version": result["model_version"], "text": message.text if keep else None,
                "text_expires_at": _utc(now) + self.retention if keep else None,
                "detail": detail, "quoted": quoted if keep else None}

    def _insert(self, rows: list[dict]) -> None:
        with self.engine.begin() as conn:  # Core executemany: cheaper than the ORM unit of work
            conn.execute(ScoredMessage.__table__.insert(), rows)

    def save_result(self, result: dict, message, ticket_id: str | None, now: dt.datetime) -> None:
        """Write one scored message now (the caller waits)."""
        try:
            self._insert([self._result_values(result, message, ticket_id, now)])
        except SQLAlchemyError as e:
            raise StoreError(f"result not stored: {type(e).__name__}") from None

    # -- write-behind: the answer does not wait for the database ----------------------------
    def start_writer(self) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=10_000)
        self._writer = threading.Thread(target=self._write_loop, name="kasuhara-store-writer", daemon=True)
        self._stop = threading.Event()
        self._writer.start()

    def submit_result(self, result: dict, message, ticket_id: str | None, now: dt.datetime) -> None:
        """Queue a scored message for the writer thread; written synchronously when the queue is
        full or no writer runs, so nothing is dropped."""
        row = self._result_values(result, message, ticket_id, now)
        q = getattr(self, "_queue", None)
        try:
            if q is None:
                raise queue.Full
            q.put_nowait(row)
        except queue.Full:
            self._insert([row])

    def _write_loop(self) -> None:
        next_purge = time.monotonic() + 60
        while not (self._stop.is_set() and self._queue.empty()):
            if self.store_text and time.monotonic() >= next_purge:  # retention: clear expired raw text
                next_purge = time.monotonic() + 3600
                try:
                    self.purge_expired_text(dt.datetime.now(UTC))
                except SQLAlchemyError as e:
                    log.warning(f'{{"event": "retention_purge_failed", "error": "{type(e).__name__}"}}')
            try:
                rows = [self._queue.get(timeout=0.2)]
            except queue.Empty:
                continue
            while len(rows) < 256:
                try:
                    rows.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for attempt in range(20):
                try:
                    self._insert(rows)
                    break
                except SQLAlchemyError as e:  # locked or unreachable: retry, then give up loudly
                    if attempt == 19:
                        log.error(f'{{"event": "store_write_lost", "rows": {len(rows)}, "error": "{type(e).__name__}"}}')
                    time.sleep(min(0.05 * (attempt + 1), 1.0))
            for _ in rows:
                self._queue.task_done()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued row is written."""
        q = getattr(self, "_queue", None)
        if q is None:
            return
        deadline = time.monotonic() + timeout
        while q.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop_writer(self) -> None:
        if getattr(self, "_writer", None) is not None:
            self.flush()
            self._stop.set()
            self._writer.join(timeout=10)

    def save_feedback(self, fb: dict, actor: str, now: dt.datetime) -> dict:
        """Store a verdict; ``fb["message"]`` (optional) is the scored message's row id it is about."""
        row = Feedback(ticket_id=fb.get("ticket_id"), message_key=self.key(fb.get("id")), labels=fb["labels"],
                       harassment=fb["harassment"], annotator=fb.get("annotator"), comment=fb.get("comment"),
                       scored_message_id=fb.get("message"), created_at=now)
        try:
            with Session(self.engine) as s, s.begin():
                s.add(row)
                s.flush()
                s.add(AuditEvent(at=now, actor=actor, action="feedback", ticket_id=row.ticket_id,
                                 message_key=row.message_key,
                                 detail={"labels": row.labels, "harassment": row.harassment,
                                         "scored_message_id": row.scored_message_id}))
                out = {"feedback_id": row.id, "ticket_id": row.ticket_id, "id": fb.get("id"),
                       "message": row.scored_message_id, "labels": row.labels, "harassment": row.harassment,
                       "annotator": row.annotator, "comment": row.comment, "created_at": now.isoformat()}
        except SQLAlchemyError as e:
            raise StoreError(f"feedback not stored: {type(e).__name__}") from None
        return out

    def purge_expired_text(self, now: dt.datetime) -> int:
        """Remove raw text (and the demands/targets quoting it) whose retention has run out;
        returns how many rows were cleared."""
        t = ScoredMessage.__table__
        with self.engine.begin() as conn:
            return conn.execute(update(t).where(t.c.text_expires_at < _utc(now))
                                .values(text=None, quoted=None, text_expires_at=None)).rowcount

    # == analysts (issue 6): read-only queries for the retraining loop and drift ================
    def scored_rows(self, since: dt.datetime, until: dt.datetime, limit: int = 500_000) -> list[dict]:
        """Scored messages received in [since, until), oldest first (no text): for drift. Past
        ``limit`` rows the newest are kept (the days an alert is about)."""
        t = ScoredMessage.__table__
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(select(t.c.received_at, t.c.labels, t.c.scores, t.c.harassment, t.c.risk,
                                           t.c.level, t.c.model_version)
                                    .where(t.c.received_at >= _utc(since), t.c.received_at < _utc(until))
                                    .order_by(t.c.received_at.desc()).limit(limit)).all()[::-1]
        except SQLAlchemyError as e:
            raise StoreError(f"rows unavailable: {type(e).__name__}") from None
        return [{"received_at": _aware(r[0]), "labels": list(r[1] or ()), "scores": dict(r[2] or {}),
                 "harassment": bool(r[3]), "risk": float(r[4]), "level": r[5], "model_version": r[6]} for r in rows]

    def stored_texts(self, since: dt.datetime | None = None, limit: int = 20_000) -> list[dict]:
        """Scored messages whose raw text is still kept (KASUHARA_STORE_TEXT), newest first."""
        t = ScoredMessage.__table__
        q = select(t.c.id, t.c.message_key, t.c.ticket_id, t.c.text, t.c.labels, t.c.model_version,
                   t.c.received_at, t.c.scored_at).where(t.c.text.is_not(None))
        if since is not None:
            q = q.where(t.c.received_at >= _utc(since))
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(q.order_by(t.c.scored_at.desc()).limit(limit)).all()
        except SQLAlchemyError as e:
            raise StoreError(f"texts unavailable: {type(e).__name__}") from None
        return [{"row": r[0], "message_key": r[1], "ticket_id": r[2], "text": r[3], "labels": list(r[4] or ()),
                 "model_version": r[5], "received_at": _aware(r[6]), "scored_at": _aware(r[7])} for r in rows]

    def feedback_with_text(self) -> list[dict]:
        """Every feedback record joined to the stored text of its message: the scored message it
        names (``scored_message_id``, as the console sends it) and no other; older records by message
        id, else the ticket's latest message scored before the feedback was given, not a later one of
        the same ticket. Feedback whose text is not (or no longer) kept has ``text`` None."""
        f = Feedback.__table__
        try:
            with self.engine.connect() as conn:
                fbs = conn.execute(select(f.c.id, f.c.ticket_id, f.c.message_key, f.c.labels, f.c.harassment,
                                          f.c.annotator, f.c.created_at, f.c.scored_message_id)
                                   .order_by(f.c.id)).all()
        except SQLAlchemyError as e:
            raise StoreError(f"feedback unavailable: {type(e).__name__}") from None
        by_row: dict[int, dict] = {}
        by_message: dict[str, dict] = {}
        by_ticket: dict[str, list[dict]] = {}
        for r in sorted(self.stored_texts(limit=1_000_000), key=lambda r: r["scored_at"]):
            by_row[r["row"]] = r
            if r["message_key"]:
                by_message[r["message_key"]] = r
            if r["ticket_id"]:
                by_ticket.setdefault(r["ticket_id"], []).append(r)
        out = []
        for fb in fbs:
            if fb[7] is not None:  # the verdict names its message: that one, whether its text is kept or not
                hit = by_row.get(fb[7])
            else:
                hit = by_message.get(fb[2]) if fb[2] else None
                if hit is None and fb[1]:  # a ticket's verdict is on the message the agent saw: the latest by then
                    hit = next((r for r in reversed(by_ticket.get(fb[1], [])) if r["scored_at"] <= _aware(fb[6])),
                               None)
            out.append({"feedback_id": fb[0], "ticket_id": fb[1], "message_key": fb[2], "scored_message_id": fb[7],
                        "labels": list(fb[3] or ()), "harassment": bool(fb[4]), "annotator": fb[5],
                        "created_at": _aware(fb[6]), "text": hit["text"] if hit else None,
                        "model_labels": hit["labels"] if hit else None,
                        "model_version": hit["model_version"] if hit else None})
        return out
    # == end analysts block =====================================================================
