"""The store on SQLite and on the PostgreSQL at 127.0.0.1:5432: migrations, pseudonymised ids,
history windows, retention of raw text."""
import datetime as dt
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kasuhara.models.messages import message_from_dict
from kasuhara.service.storage import ScoredMessage, Store

JST = dt.timezone(dt.timedelta(hours=9))
RESULT = {"harassment": True, "risk": 0.9, "level": "high", "labels": ["insult"], "scores": {"insult": 0.9},
          "model_version": "v-test"}


@pytest.fixture
def store(url):  # url: a SQLite file or a PostgreSQL schema of its own (conftest)
    s = Store(url, store_text=True, retention_days=1)
    s.migrate()
    yield s
    s.engine.dispose()


def test_a_dropped_server_connection_costs_one_answer_then_the_pool_recovers(store, pg_admin_url):
    """No ping per checkout: when the server drops the connections, the next history read
    fails (reported as unavailable), and the pool has replaced them for the one after."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("only a database server drops connections")
    from sqlalchemy import create_engine, text

    from kasuhara.service.storage import StoreError

    now = dt.datetime.now(dt.timezone.utc)
    store.history("c-1", now)
    with store.engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    admin = create_engine(pg_admin_url)
    with admin.begin() as c:  # the server ends our pooled connection (a restart, an idle timeout)
        c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    admin.dispose()
    with pytest.raises(StoreError):
        store.history("c-1", now)
    assert store.history("c-1", now) == []


def test_ids_are_pseudonymised_and_history_is_windowed(store):
    cust = "c-" + uuid.uuid4().hex
    now = dt.datetime(2026, 10, 10, 12, 0, tzinfo=JST)
    for hours in (1, 30, 24 * 9):
        m = message_from_dict({"text": "バカ", "id": f"m{hours}", "customer_id": cust,
                               "received_at": (now - dt.timedelta(hours=hours)).isoformat()})
        store.save_result(RESULT, m, "t1", now)
    hist = store.history(cust, now)
    assert len(hist) == 2  # the 9-day-old message is outside the 7-day window
    assert all(h.received_at.utcoffset() == dt.timedelta(0) for h in hist)
    with Session(store.engine) as s:
        rows = s.execute(select(ScoredMessage).where(ScoredMessage.customer_key == store.key(cust))).scalars().all()
    assert rows and all(r.customer_key != cust and len(r.customer_key) == 64 for r in rows)


def test_raw_text_expires(store):
    cust = "c-" + uuid.uuid4().hex
    then = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
    store.save_result(RESULT, message_from_dict({"text": "秘密の本文", "customer_id": cust}), None, then)
    assert store.purge_expired_text(dt.datetime.now(dt.timezone.utc)) >= 1
    with Session(store.engine) as s:
        row = s.execute(select(ScoredMessage).where(ScoredMessage.customer_key == store.key(cust))).scalar_one()
    assert row.text is None


def test_write_behind_writes_everything(store):
    cust = "c-" + uuid.uuid4().hex
    store.start_writer()
    now = dt.datetime.now(dt.timezone.utc)
    for _ in range(300):
        store.submit_result(RESULT, message_from_dict({"text": "x", "customer_id": cust}), None, now)
    store.stop_writer()
    assert len(store.history(cust, now + dt.timedelta(seconds=1))) == 300
