"""The analysts' store queries (SQLite and PostgreSQL, in a schema of their own) and
GET /v1/drift."""
import datetime as dt
import os
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from kasuhara.models.messages import message_from_dict
from kasuhara.service.storage import Store

PG = os.environ.get("KASUHARA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
UTC = dt.timezone.utc
KEY = "k-analytics"
AUTH = {"Authorization": f"Bearer {KEY}"}


def result(labels, risk=0.9):
    return {"harassment": bool(set(labels) - {"demand_exchange"}), "risk": risk, "level": "high" if labels else "none",
            "labels": labels, "scores": {l: 0.9 for l in labels}, "model_version": "v-test"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'a.db'}", store_text=True)
        s.migrate()
        yield s
        return
    schema = "analyst_" + uuid.uuid4().hex[:10]
    admin = create_engine(PG)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    s = Store(f"{PG}?options=-csearch_path%3D{schema}", store_text=True)
    s.migrate()
    yield s
    s.engine.dispose()
    with admin.begin() as c:
        c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_scored_rows_window_and_feedback_joined_to_text(store):
    t0 = dt.datetime(2026, 11, 1, 3, tzinfo=UTC)
    for k, (labels, mid, ticket) in enumerate([(["threat"], "m1", "t1"), ([], "m2", None), (["insult"], None, "t3")]):
        msg = message_from_dict({"text": f"本文{k}", "id": mid, "received_at": (t0 + dt.timedelta(hours=k)).isoformat()})
        store.save_result(result(labels), msg, ticket, t0 + dt.timedelta(hours=k))
    old = message_from_dict({"text": "古い", "received_at": (t0 - dt.timedelta(days=40)).isoformat()})
    store.save_result(result([]), old, None, t0)
    rows = store.scored_rows(t0 - dt.timedelta(days=1), t0 + dt.timedelta(days=1))
    assert [r["labels"] for r in rows] == [["threat"], [], ["insult"]]
    assert rows[0]["received_at"] == t0 and rows[0]["scores"] == {"threat": 0.9} and rows[0]["harassment"] is True
    now = dt.datetime.now(UTC)
    store.save_feedback({"id": "m1", "labels": [], "harassment": False, "annotator": "agent-7"}, "k", now)
    store.save_feedback({"ticket_id": "t3", "labels": ["insult", "threat"], "harassment": True}, "k", now)
    store.save_feedback({"id": "unknown", "labels": ["threat"], "harassment": True}, "k", now)
    fb = store.feedback_with_text()
    assert [(f["text"], f["labels"], f["model_labels"]) for f in fb] == [
        ("本文0", [], ["threat"]), ("本文2", ["insult", "threat"], ["insult"]), (None, ["threat"], None)]
    assert fb[0]["annotator"] == "agent-7" and "m1" not in str(fb[0]["message_key"])  # pseudonymised
    assert len(store.stored_texts()) == 4


def test_ticket_feedback_is_joined_to_the_message_the_agent_saw_not_a_later_one(store):
    t0 = dt.datetime.now(UTC) - dt.timedelta(hours=3)
    store.save_result(result(["insult"]), message_from_dict({"text": "一通目"}), "t9", t0)
    store.save_feedback({"ticket_id": "t9", "labels": [], "harassment": False}, "k", t0 + dt.timedelta(hours=1))
    store.save_result(result([]), message_from_dict({"text": "二通目"}), "t9", t0 + dt.timedelta(hours=2))
    assert [(f["text"], f["model_labels"]) for f in store.feedback_with_text()] == [("一通目", ["insult"])]


@pytest.fixture(scope="module")
def client(tmp_path_factory, engine):
    from kasuhara.service.app import create_app
    from kasuhara.service.settings import Settings

    db = tmp_path_factory.mktemp("drift") / "d.db"
    store = Store(f"sqlite:///{db}")
    store.migrate()
    start = dt.datetime(2026, 11, 1, 3, tzinfo=UTC)
    for day, share in enumerate([0.1, 0.1, 0.5]):
        for i in range(40):
            t = start + dt.timedelta(days=day, minutes=i)
            store.save_result(result(["threat"] if i < share * 40 else [], 0.9 if i < share * 40 else 0.05),
                              message_from_dict({"text": "x", "received_at": t.isoformat()}), None, t)
    settings = Settings(api_keys=[KEY], database_url=f"sqlite:///{db}", rate_limit_per_minute=10_000)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


@pytest.mark.slow
def test_drift_endpoint(client):
    assert client.get("/v1/drift").status_code == 401
    r = client.get("/v1/drift", params={"since": "2026-10-31", "until": "2026-11-10"}, headers=AUTH)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["bucket"] == "day" and [b["messages"] for b in d["series"]] == [40, 40, 40]
    assert [b["harassment_rate"] for b in d["series"]] == [0.1, 0.1, 0.5]
    assert d["series"][0]["start"] == "2026-11-01T00:00:00+09:00"
    assert d["series"][2]["label_rates"]["threat"] == 0.5 and set(d["series"][0]["risk_quantiles"]) == {"p50", "p90", "p99"}
    assert {a["label"] for a in d["alerts"]} == {"threat", "harassment"}
    assert all(a["message"] for a in d["alerts"])
    card = client.get("/v1/drift", params={"since": "2026-10-31", "until": "2026-11-10", "reference": "card"},
                      headers=AUTH).json()
    assert card["reference"]["source"].startswith("model card")


@pytest.mark.slow
@pytest.mark.parametrize("params, code", [
    ({"since": "yesterday"}, "invalid_time"),
    ({"since": "2026-11-10", "until": "2026-11-01"}, "invalid_range"),
    ({"days": 0}, "invalid_request"),
    ({"reference": "moon"}, "invalid_request"),
    ({"until": "0001-01-05"}, "invalid_range"),  # 30 days before it is no date at all
])
def test_drift_bad_queries_are_422(client, params, code):
    r = client.get("/v1/drift", params=params, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["code"] == code


def test_drift_rows_past_the_limit_keep_the_newest(store):
    now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.timezone.utc)
    for k in range(5):
        store.save_result({"harassment": False, "risk": 0.1, "level": "none", "labels": [], "scores": {},
                           "model_version": "v"}, message_from_dict({"text": f"m{k}", "id": f"r{k}"}), None,
                          now - dt.timedelta(days=k))
    rows = store.scored_rows(now - dt.timedelta(days=10), now + dt.timedelta(days=1), limit=2)
    assert [r["received_at"] for r in rows] == [now - dt.timedelta(days=1), now]  # oldest first, newest kept
