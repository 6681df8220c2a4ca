"""Scoring as the HTTP entry points do it: store history in one query, batches that give the
same answers as one-by-one scoring, and the micro-batcher under concurrent requests."""
import asyncio
import concurrent.futures as cf
import datetime as dt
import types
import uuid

import pytest

from kasuhara.models.messages import Message
from kasuhara.service.scoring import MicroBatcher, score_message, score_messages
from kasuhara.service.storage import Store

pytestmark = pytest.mark.slow
JST = dt.timezone(dt.timedelta(hours=9))
TEXTS = [
    "商品が届きません。いつ発送されますか。",
    "ふざけるな、今すぐ返金しろ。できないならSNSで晒すからな",
    "お前みたいな無能な担当者は辞めろ",
    "何度も申し上げておりますが、誠意ある対応をお願いします。土下座していただけますね",
    "ご対応ありがとうございました。助かりました。",
]


def _run(coro_fn):
    """asyncio.run on a fresh thread: a browser test may leave an event loop in this one."""
    with cf.ThreadPoolExecutor(1) as ex:
        return ex.submit(lambda: asyncio.run(coro_fn())).result()


class _Metrics:
    def __init__(self):
        self.seen = 0

    def observe(self, result):
        self.seen += 1


@pytest.fixture()
def state(tmp_path, engine):
    store = Store(f"sqlite:///{tmp_path / 'k.db'}")
    store.migrate()
    return types.SimpleNamespace(engine=engine, store=store, store_error=None, metrics=_Metrics())


def test_batch_equals_one_by_one(state):
    items = [(Message(text=t, id=f"m{i}"), None) for i, t in enumerate(TEXTS)]
    together = score_messages(state, items)
    alone = [score_message(state, m, t) for m, t in items]
    assert together == alone
    assert state.metrics.seen == 2 * len(TEXTS)


def test_history_comes_from_the_store_and_from_earlier_messages_in_the_batch(state):
    cust = "c-" + uuid.uuid4().hex
    t0 = dt.datetime(2026, 11, 1, 10, 0, tzinfo=JST)
    first = score_message(state, Message(text=TEXTS[1], customer_id=cust, received_at=t0), None)
    assert first["history"]["messages_24h"] == 0
    state.store.flush()  # the write-behind has nothing queued (no writer runs: written at once)
    batch = [(Message(text=TEXTS[1], customer_id=cust, received_at=t0 + dt.timedelta(minutes=k)), None)
             for k in (20, 10)]  # out of time order on purpose
    later, earlier = score_messages(state, batch)
    assert earlier["history"]["messages_24h"] == 1  # the stored one
    assert later["history"]["messages_24h"] == 2  # the stored one and the batch's earlier one


def test_history_many_keeps_customers_apart(state):
    a, b = "a-" + uuid.uuid4().hex, "b-" + uuid.uuid4().hex
    now = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.timezone.utc)
    for cust, n in ((a, 3), (b, 1)):
        for k in range(n):
            score_message(state, Message(text=TEXTS[0], customer_id=cust, received_at=now - dt.timedelta(hours=k + 1)),
                          None)
    old = now - dt.timedelta(days=8)
    score_message(state, Message(text=TEXTS[0], customer_id=a, received_at=old), None)  # outside the window
    got = state.store.history_many([a, b, "nobody"], now, now)
    assert {k: len(v) for k, v in got.items()} == {a: 3, b: 1, "nobody": 0}


def test_store_down_marks_history_unavailable(state):
    state.store_error = "OperationalError: unreachable"
    r = score_message(state, Message(text=TEXTS[2], customer_id="c-down"), None)
    assert r["history"].get("available") is False
    assert r["labels"]  # still scored


def test_micro_batcher_answers_each_request_as_alone(state):
    msgs = [Message(text=TEXTS[i % len(TEXTS)], id=f"x{i}") for i in range(12)]
    expected = [score_message(state, m, None) for m in msgs]
    calls = []

    def counting(st, items):
        calls.append(len(items))
        return score_messages(st, items)

    async def run():
        b = MicroBatcher(state, max_batch=5, score=counting)
        b.start()
        try:
            return await asyncio.gather(*(b.score(m, None) for m in msgs))
        finally:
            await b.stop()

    got = _run(run)
    assert got == expected
    assert sum(calls) == len(msgs) and max(calls) <= 5 and len(calls) < len(msgs)  # batched, capped


def test_micro_batcher_isolates_a_failing_message(state):
    class Boom(Exception):
        pass

    engine = state.engine

    class Picky:  # an engine that fails on one message only
        def __getattr__(self, name):
            return getattr(engine, name)

        def score_batch(self, messages, *a, **k):
            if any(m.id == "bad" for m in messages):
                raise Boom("no")
            return engine.score_batch(messages, *a, **k)

    state.engine = Picky()
    msgs = [Message(text=TEXTS[0], id="ok1"), Message(text=TEXTS[1], id="bad"), Message(text=TEXTS[2], id="ok2")]

    async def run():
        b = MicroBatcher(state, max_batch=8)
        b.start()
        try:
            return await asyncio.gather(*(b.score(m, None) for m in msgs), return_exceptions=True)
        finally:
            await b.stop()

    ok1, bad, ok2 = _run(run)
    assert isinstance(bad, Boom)
    assert ok1["id"] == "ok1" and ok2["id"] == "ok2"
