"""The HTTP service as the ticketing system meets it (in-process), per endpoint."""
import json
import uuid

import pytest
from fastapi.testclient import TestClient

from kasuhara.service.app import create_app
from kasuhara.service.settings import Settings

pytestmark = pytest.mark.slow
KEY = "k-test-1"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, engine):
    db = tmp_path_factory.mktemp("db") / "k.db"
    settings = Settings(api_keys=[KEY, "k-test-2"], database_url=f"sqlite:///{db}", max_text_chars=20_000,
                        max_batch_items=50, max_body_bytes=500_000, rate_limit_per_minute=10_000)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def test_auth_is_required(client):
    assert client.post("/v1/score", json={"text": "こんにちは"}).status_code == 401
    r = client.post("/v1/score", json={"text": "こんにちは"}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert client.get("/v1/categories", headers={"Authorization": "Bearer k-test-2"}).status_code == 200


def test_score_answers_the_contract(client):
    text = "今すぐ来い。来るまでここで待ってるからな。土下座しろ"
    r = client.post("/v1/score", json={"text": text, "id": "m1", "customer_id": "c-" + uuid.uuid4().hex,
                                       "ticket_id": "t1", "received_at": "2026-10-01T10:00:00+09:00"}, headers=AUTH)
    assert r.status_code == 200
    d = r.json()
    assert d["id"] == "m1" and "dogeza" in d["labels"] and len(d["scores"]) == 15
    assert d["history"] == {"messages_24h": 0, "messages_7d": 0, "persistence": 0.0}
    for e in d["evidence"]:
        assert text[e["start"]:e["end"]] == e["text"]
    assert r.headers["x-request-id"]


def test_history_grows_for_a_customer(client):
    cust = "c-" + uuid.uuid4().hex
    for h in range(5):
        r = client.post("/v1/score", json={"text": f"返金はまだですか。{h}回目です。", "customer_id": cust,
                                           "received_at": f"2026-10-01T1{h}:00:00+09:00"}, headers=AUTH)
        assert r.status_code == 200
        client.app.state.store.flush()
    assert r.json()["history"]["messages_24h"] == 4


def test_batch_keeps_order_and_errors(client):
    r = client.post("/v1/score/batch", json={"items": [{"id": "x", "text": "納期を教えてください"}, {"id": "y"},
                                                       {"id": "z", "text": 3}]}, headers=AUTH)
    assert r.status_code == 200
    res = r.json()["results"]
    assert [x["id"] for x in res] == ["x", "y", "z"]
    assert "scores" in res[0] and res[1]["error"]["code"] == "missing_text" and res[2]["error"]["code"] == "invalid_text"


def test_batch_error_record_with_an_unwritable_id_is_still_answered(client):
    r = client.post("/v1/score/batch", content=b'{"items": [{"id": "\\ud800", "text": "x"}]}',
                    headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 200
    assert r.json()["results"] == [{"id": None, "error": {"code": "invalid_unicode",
                                                          "message": "field 'id' holds an unpaired surrogate"}}]


def test_categories_and_model_card(client):
    cats = client.get("/v1/categories", headers=AUTH).json()["categories"]
    assert len(cats) == 15 and {"id", "ja", "en", "group", "severity", "guideline"} <= set(cats[0])
    card = client.get("/v1/model", headers=AUTH).json()
    assert card["version"] and len(card["thresholds"]) >= 15 and "metrics" in card


def test_feedback_is_stored(client):
    r = client.post("/v1/feedback", json={"ticket_id": "t1", "labels": ["restraint", "dogeza"], "harassment": True,
                                          "annotator": "agent-7"}, headers=AUTH)
    assert r.status_code == 201
    d = r.json()
    assert d["labels"] == ["dogeza", "restraint"] and d["feedback_id"] > 0
    bad = client.post("/v1/feedback", json={"ticket_id": "t1", "labels": ["nope"], "harassment": True}, headers=AUTH)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_label"
    none = client.post("/v1/feedback", json={"labels": [], "harassment": False}, headers=AUTH)
    assert none.status_code == 422 and none.json()["error"]["code"] == "missing_reference"


HOSTILE = [
    ("/v1/score", b"{", 400, "invalid_json"),
    ("/v1/score", b"[]", 422, "invalid_request"),
    ("/v1/score", b'{"text": null}', 422, "invalid_request"),
    ("/v1/score", b'{"text": 5}', 422, "invalid_request"),
    ("/v1/score", b'{"text": ""}', 422, "empty_text"),
    ("/v1/score", '{"text": "\ud800"}'.encode("utf-8", "surrogatepass"), 422, "invalid_unicode"),
    ("/v1/score", b'{"text": "\\ud800"}', 422, "invalid_unicode"),
    ("/v1/score", b"\xff\xfe\x00garbage", 400, "invalid_json"),
    ("/v1/score", json.dumps({"text": "あ" * 200_000}).encode(), 413, "body_too_large"),
    ("/v1/score", json.dumps({"text": "あ" * 30_000}).encode(), 422, "text_too_long"),
    ("/v1/score", json.dumps({"text": "x", "received_at": "yesterday"}).encode(), 422, "invalid_received_at"),
    ("/v1/score", json.dumps({"text": "x", "channel": "fax"}).encode(), 422, "invalid_request"),
    ("/v1/score/batch", json.dumps({"items": [{"text": "a"}] * 100}).encode(), 422, "batch_too_large"),
    ("/v1/nowhere", b"{}", 404, "not_found"),
]


@pytest.mark.parametrize("path,body,status,code", HOSTILE)
def test_bad_input_gets_a_4xx_json_error(client, path, body, status, code):
    r = client.post(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == status, r.text[:200]
    assert r.json()["error"]["code"] == code


def test_operations_endpoints(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["store"] == "ok"
    m = client.get("/metrics").text
    assert "kasuhara_requests_total" in m and "kasuhara_model_info" in m
    assert client.get("/openapi.json").json()["paths"]["/v1/score"]


def test_store_down_still_scores_and_readyz_says_why(engine):
    settings = Settings(api_keys=[], database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings, engine=engine)) as c:
        r = c.post("/v1/score", json={"text": "ふざけるな", "customer_id": "c1"})
        assert r.status_code == 200
        assert r.json()["history"].get("available") is False
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "store" in ready.json()["store"]
        for ref in ({"ticket_id": "t"}, {"message": 1}):
            fb = c.post("/v1/feedback", json={**ref, "labels": [], "harassment": False})
            assert fb.status_code == 503 and fb.json()["error"]["code"] == "store_unavailable"


def test_a_store_that_comes_up_after_start_is_picked_up_by_readyz(engine, tmp_path):
    folder = tmp_path / "not-yet"  # SQLite cannot create a file in a folder that does not exist
    settings = Settings(api_keys=[], database_url=f"sqlite:///{folder / 'k.db'}")
    with TestClient(create_app(settings, engine=engine)) as c:
        assert c.get("/readyz").status_code == 503
        r = c.post("/v1/score", json={"text": "ふざけるな", "customer_id": "c1"})
        assert r.json()["history"].get("available") is False
        folder.mkdir()  # the store becomes reachable
        c.app.state.store_retry_at = 0.0  # (instead of waiting out the retry interval)
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["store"] == "ok"
        r = c.post("/v1/score", json={"text": "ふざけるな", "customer_id": "c1"})
        assert "available" not in r.json()["history"]
        fb = c.post("/v1/feedback", json={"ticket_id": "t", "labels": [], "harassment": False})
        assert fb.status_code == 201
