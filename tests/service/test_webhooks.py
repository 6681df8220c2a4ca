"""Ticketing webhooks (Zendesk, Zammad): signatures, replay and age checks, payload forms,
scoring and tags, and the push-back to a local stand-in for the ticketing system's API."""
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import http.server
import json
import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from kasuhara.service.app import create_app
from kasuhara.service.settings import Settings
from kasuhara.service.webhooks import SeenSet, html_to_text, zendesk_timestamp

pytestmark = pytest.mark.slow
ZD_SECRET = "zd-signing-secret"
ZM_SECRET = "zm-secret"
HARASSING = "ふざけるな！！返金しないならSNSで晒すからな"
BENIGN = "納期を教えてください"


def _now_iso(offset_s: float = 0) -> str:
    t = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset_s)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def zendesk_headers(body: bytes, secret: str = ZD_SECRET, stamp: str | None = None) -> dict:
    stamp = _now_iso() if stamp is None else stamp
    sig = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": sig,
            "X-Zendesk-Webhook-Signature-Timestamp": stamp}


def zammad_headers(body: bytes, secret: str = ZM_SECRET, delivery: str | None = None) -> dict:
    sig = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature": sig,
            "X-Zammad-Delivery": delivery or uuid.uuid4().hex, "X-Zammad-Trigger": "kasuhara"}


def zendesk_body(text: str = HARASSING, **extra) -> bytes:
    return json.dumps({"ticket_id": str(uuid.uuid4().int % 10**9), "subject": "返金について",
                       "description": text, "requester_id": uuid.uuid4().int % 10**9,
                       "created_at": "2026-11-29T10:02:03+09:00", **extra}).encode()


def zammad_body(text: str = HARASSING, content_type: str = "text/plain", ticket_id=None) -> bytes:
    return json.dumps({
        "ticket": {"id": ticket_id or uuid.uuid4().int % 10**9, "number": "31001", "title": "返金について",
                   "customer_id": uuid.uuid4().int % 10**9, "created_at": "2026-11-29T01:00:00.000Z"},
        "article": {"id": 9, "body": text, "content_type": content_type, "sender": "Customer",
                    "created_at": "2026-11-29T01:02:03.456Z"}}).encode()


@contextlib.contextmanager
def webhook_client(engine, tmp_path, **settings_kw):
    settings = Settings(database_url=f"sqlite:///{tmp_path / ('k-' + uuid.uuid4().hex + '.db')}", **settings_kw)
    app = create_app(settings, engine=engine)  # create_app mounts the webhook router
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def client(tmp_path_factory, engine):
    with webhook_client(engine, tmp_path_factory.mktemp("wh"), zendesk_signing_secret=ZD_SECRET,
                        zammad_secret=ZM_SECRET) as c:
        yield c


# -- a stand-in for the ticketing system's API ------------------------------------------------
class _Recorder(http.server.BaseHTTPRequestHandler):
    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        self.server.calls.append({"method": self.command, "path": self.path,
                                  "authorization": self.headers.get("Authorization"),
                                  "content_type": self.headers.get("Content-Type"),
                                  "json": json.loads(raw) if raw else None})
        out = b'{"ok": true}' if self.server.status < 400 else b'{"error": "boom"}'
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_PUT = do_POST = _handle

    def log_message(self, *args):
        pass


@pytest.fixture
def ticketing_api():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.calls, server.status = [], 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


# -- Zendesk -------------------------------------------------------------------------------
def test_zendesk_valid_call_is_scored_and_tagged(client):
    body = zendesk_body()
    r = client.post("/webhooks/zendesk", content=body, headers=zendesk_headers(body))
    assert r.status_code == 200, r.text
    d = r.json()
    payload = json.loads(body)
    res = d["result"]
    assert d["ticket_id"] == payload["ticket_id"]
    assert res["id"] == f"zendesk-{payload['ticket_id']}" and "history" in res
    assert "kasuhara_threat" in d["tags"] and res["level"] != "none"
    assert d["tags"] == [f"kasuhara_{res['level']}"] + [f"kasuhara_{l}" for l in res["labels"]]
    assert d["fields"] == {"kasuhara_level": res["level"], "kasuhara_risk": res["risk"],
                           "kasuhara_labels": ",".join(res["labels"])}
    assert d["pushed"] is False and "push_error" not in d


def test_zendesk_nested_form_and_epoch_timestamp(client):
    tid = uuid.uuid4().int % 10**9
    body = json.dumps({"ticket": {"id": tid, "subject": "至急", "description": HARASSING,
                                  "requester": {"id": 42}, "created_at": "2026-11-29T01:02:03Z"}}).encode()
    r = client.post("/webhooks/zendesk", content=body, headers=zendesk_headers(body, stamp=str(int(time.time()))))
    assert r.status_code == 200, r.text
    assert r.json()["ticket_id"] == str(tid) and r.json()["result"]["id"] == f"zendesk-{tid}"
    assert "kasuhara_threat" in r.json()["tags"]


def test_zendesk_benign_ticket_gets_no_tags(client):
    body = zendesk_body(BENIGN)
    d = client.post("/webhooks/zendesk", content=body, headers=zendesk_headers(body)).json()
    assert d["tags"] == [] and d["fields"]["kasuhara_level"] == "none" and d["fields"]["kasuhara_labels"] == ""


@pytest.mark.parametrize("case", ["wrong_secret", "tampered", "missing_signature", "missing_timestamp",
                                  "garbage_signature"])
def test_zendesk_bad_signature_is_401(client, case):
    body = zendesk_body()
    headers = zendesk_headers(body, secret="other" if case == "wrong_secret" else ZD_SECRET)
    if case == "tampered":
        body = body.replace(b'"subject"', b'"Subject"')
    elif case == "missing_signature":
        del headers["X-Zendesk-Webhook-Signature"]
    elif case == "missing_timestamp":
        del headers["X-Zendesk-Webhook-Signature-Timestamp"]
    elif case == "garbage_signature":
        headers["X-Zendesk-Webhook-Signature"] = "é".encode("latin-1") * 44
    r = client.post("/webhooks/zendesk", content=body, headers=headers)
    assert r.status_code == 401 and r.json() == {"error": {"code": "invalid_signature",
                                                           "message": r.json()["error"]["message"]}}


@pytest.mark.parametrize("stamp", [_now_iso(-3600), _now_iso(+3600), str(int(time.time()) - 301),
                                   "yesterday", "nan"])
def test_zendesk_stale_or_unreadable_timestamp_is_401(client, stamp):
    body = zendesk_body()
    r = client.post("/webhooks/zendesk", content=body, headers=zendesk_headers(body, stamp=stamp))
    assert r.status_code == 401 and r.json()["error"]["code"] == "stale_request"


def test_zendesk_replay_is_409(client):
    body = zendesk_body()
    headers = zendesk_headers(body)
    assert client.post("/webhooks/zendesk", content=body, headers=headers).status_code == 200
    again = client.post("/webhooks/zendesk", content=body, headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "replayed_request"


@pytest.mark.parametrize("body,status,code", [
    (b'{"ticket_id": 1, "description": ', 400, "invalid_json"),
    (b"\xff\xfe garbage", 400, "invalid_json"),
    (b"[]", 422, "invalid_payload"),
    (b'{"ticket_id": 1, "subject": "x"}', 422, "missing_description"),
    (b'{"ticket_id": 1, "description": "   "}', 422, "missing_description"),
    (b'{"ticket_id": 1, "description": 5}', 422, "invalid_description"),
    (b'{"description": "ok"}', 422, "missing_ticket_id"),
    (b'{"ticket_id": true, "description": "ok"}', 422, "invalid_ticket_id"),
    (b'{"ticket_id": 1, "description": "ok", "created_at": "yesterday"}', 422, "invalid_created_at"),
    (b'{"ticket_id": 1, "description": "\\ud800"}', 422, "invalid_unicode"),
])
def test_zendesk_bad_payload_gets_the_api_error_format(client, body, status, code):
    r = client.post("/webhooks/zendesk", content=body, headers=zendesk_headers(body))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]


# -- Zammad --------------------------------------------------------------------------------
def test_zammad_valid_call_is_scored_and_tagged(client):
    body = zammad_body()
    r = client.post("/webhooks/zammad", content=body, headers=zammad_headers(body))
    assert r.status_code == 200, r.text
    d, payload = r.json(), json.loads(body)
    assert d["ticket_id"] == str(payload["ticket"]["id"])
    assert d["result"]["id"] == f"zammad-{payload['ticket']['id']}" and "history" in d["result"]
    assert "kasuhara_threat" in d["tags"] and d["pushed"] is False
    assert d["fields"]["kasuhara_labels"] == ",".join(d["result"]["labels"])


@pytest.mark.parametrize("case", ["wrong_secret", "missing", "no_prefix", "tampered"])
def test_zammad_bad_signature_is_401(client, case):
    body = zammad_body()
    headers = zammad_headers(body, secret="other" if case == "wrong_secret" else ZM_SECRET)
    if case == "missing":
        del headers["X-Hub-Signature"]
    elif case == "no_prefix":
        headers["X-Hub-Signature"] = headers["X-Hub-Signature"][5:]
    elif case == "tampered":
        body = body.replace(b"Customer", b"Agent___")
    r = client.post("/webhooks/zammad", content=body, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_signature"


def test_zammad_replayed_delivery_is_409(client):
    body = zammad_body()
    headers = zammad_headers(body, delivery="d-" + uuid.uuid4().hex)
    assert client.post("/webhooks/zammad", content=body, headers=headers).status_code == 200
    again = client.post("/webhooks/zammad", content=body, headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "replayed_request"
    other = zammad_body()  # another body under the same delivery id
    r = client.post("/webhooks/zammad", content=other, headers={**zammad_headers(other),
                                                                 "X-Zammad-Delivery": headers["X-Zammad-Delivery"]})
    assert r.status_code == 409
    # the delivery header is not signed: the same signed body under a new id is a replay too
    assert client.post("/webhooks/zammad", content=body, headers=zammad_headers(body)).status_code == 409


def test_zammad_html_article_is_reduced_to_text(client):
    html = ("<div><p>ふざけるな！！</p><p>返金しないなら<b>SNSで晒す</b>からな</p>"
            "<style>p {color: red}</style><script>var a = '<b>';</script></div>")
    body = zammad_body(html, content_type="text/html")
    r = client.post("/webhooks/zammad", content=body, headers=zammad_headers(body))
    assert r.status_code == 200, r.text
    d = r.json()
    assert "kasuhara_threat" in d["tags"]
    assert d["result"]["evidence"] and all("<" not in e["text"] and ">" not in e["text"]
                                           for e in d["result"]["evidence"])
    assert html_to_text(html) == "ふざけるな！！\n\n返金しないならSNSで晒すからな"
    assert html_to_text("a&amp;b<br>c<br/>d") == "a&b\nc\nd"


@pytest.mark.parametrize("payload,code", [
    ({"ticket": {"id": 1, "title": "t"}}, "missing_article_body"),
    ({"ticket": {"id": 1}, "article": {"body": ""}}, "missing_article_body"),
    ({"ticket": {"id": 1}, "article": {"body": "<p> </p>", "content_type": "text/html"}}, "missing_article_body"),
    ({"article": {"body": "x"}}, "invalid_payload"),
    ({"ticket": {"title": "t"}, "article": {"body": "x"}}, "missing_ticket_id"),
])
def test_zammad_bad_payload_is_422(client, payload, code):
    body = json.dumps(payload).encode()
    r = client.post("/webhooks/zammad", content=body, headers=zammad_headers(body))
    assert r.status_code == 422 and r.json()["error"]["code"] == code


# -- configuration ---------------------------------------------------------------------------
def test_not_configured_is_404(engine, tmp_path):
    with webhook_client(engine, tmp_path) as c:
        zd, zm = zendesk_body(), zammad_body()
        for path, body, headers in [("/webhooks/zendesk", zd, zendesk_headers(zd)),
                                    ("/webhooks/zammad", zm, zammad_headers(zm)),
                                    ("/webhooks/zendesk", b"{}", {})]:
            r = c.post(path, content=body, headers=headers)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_configured"


def test_webhook_max_age_is_validated():
    with pytest.raises(ValidationError):
        Settings(webhook_max_age_s=10)
    assert Settings().webhook_max_age_s == 300


# -- push-back -------------------------------------------------------------------------------
def test_zendesk_push_back_adds_the_tags(engine, tmp_path, ticketing_api):
    with webhook_client(engine, tmp_path, zendesk_signing_secret=ZD_SECRET, zendesk_base_url=ticketing_api.base_url,
                        zendesk_email="agent@example.com", zendesk_token="zd-api-token") as c:
        body = zendesk_body(ticket_id="123")
        d = c.post("/webhooks/zendesk", content=body, headers=zendesk_headers(body)).json()
        assert d["pushed"] is True and "push_error" not in d and "kasuhara_threat" in d["tags"]
        expected_auth = "Basic " + base64.b64encode(b"agent@example.com/token:zd-api-token").decode()
        assert ticketing_api.calls == [{"method": "PUT", "path": "/api/v2/tickets/123/tags.json",
                                        "authorization": expected_auth, "content_type": "application/json",
                                        "json": {"tags": d["tags"]}}]
        ticketing_api.calls.clear()  # nothing to add: no call
        body = zendesk_body(BENIGN)
        d = c.post("/webhooks/zendesk", content=body, headers=zendesk_headers(body)).json()
        assert d["tags"] == [] and d["pushed"] is False and "push_error" not in d
        assert ticketing_api.calls == []


def test_zammad_push_back_adds_each_tag(engine, tmp_path, ticketing_api):
    with webhook_client(engine, tmp_path, zammad_secret=ZM_SECRET, zammad_base_url=ticketing_api.base_url + "/",
                        zammad_token="zm-api-token") as c:
        body = zammad_body(ticket_id=77)
        d = c.post("/webhooks/zammad", content=body, headers=zammad_headers(body)).json()
        assert d["pushed"] is True and "push_error" not in d and "kasuhara_threat" in d["tags"]
        assert ticketing_api.calls == [{"method": "POST", "path": "/api/v1/tags/add",
                                        "authorization": "Token token=zm-api-token",
                                        "content_type": "application/json",
                                        "json": {"object": "Ticket", "o_id": 77, "item": tag}} for tag in d["tags"]]


def test_failing_push_back_still_answers_200(engine, tmp_path, ticketing_api, caplog):
    ticketing_api.status = 500
    with webhook_client(engine, tmp_path, zendesk_signing_secret=ZD_SECRET, zendesk_base_url=ticketing_api.base_url,
                        zendesk_email="agent@example.com", zendesk_token="zd-api-token",
                        zammad_secret=ZM_SECRET, zammad_base_url=ticketing_api.base_url,
                        zammad_token="zm-api-token") as c, caplog.at_level("WARNING", logger="kasuhara.service"):
        zd = zendesk_body(ticket_id="123")
        r = c.post("/webhooks/zendesk", content=zd, headers=zendesk_headers(zd))
        assert r.status_code == 200 and r.json()["pushed"] is False and "HTTP 500" in r.json()["push_error"]
        assert "kasuhara_threat" in r.json()["tags"]
        zm = zammad_body(ticket_id=77)
        r = c.post("/webhooks/zammad", content=zm, headers=zammad_headers(zm))
        assert r.status_code == 200 and r.json()["pushed"] is False and "HTTP 500" in r.json()["push_error"]
        assert len(ticketing_api.calls) == 2  # Zammad stops at the first failing tag
    failures = [json.loads(m) for m in caplog.messages if "pushback_failed" in m]
    assert [f["system"] for f in failures] == ["zendesk", "zammad"]
    assert all(HARASSING not in m and "zd-api-token" not in m for m in caplog.messages)


def test_unreachable_push_back_target_still_answers_200(engine, tmp_path, ticketing_api):
    url = ticketing_api.base_url
    ticketing_api.shutdown()
    ticketing_api.server_close()  # nothing listens there any more
    with webhook_client(engine, tmp_path, zammad_secret=ZM_SECRET, zammad_base_url=url, zammad_token="t") as c:
        body = zammad_body(ticket_id=5)
        r = c.post("/webhooks/zammad", content=body, headers=zammad_headers(body))
        assert r.status_code == 200 and r.json()["pushed"] is False
        assert "connection error" in r.json()["push_error"]


# -- pieces ---------------------------------------------------------------------------------
def test_seen_set_expires_and_stays_bounded():
    s = SeenSet(max_items=3)
    assert s.claim(["a"], expires_at=110, now=100) and not s.claim(["a"], 120, now=105)
    assert s.claim(["a"], 130, now=111)  # expired: may be claimed again
    assert s.claim(["b", "c"], 200, now=112) and not s.claim(["d", "b"], 200, now=112)
    assert s.claim(["d"], 300, now=113) and len(s) == 3  # the earliest-expiring entry made room
    s.release(["d"])
    assert s.claim(["d"], 300, now=114)


def test_zendesk_timestamp_forms():
    assert zendesk_timestamp("2026-11-29T01:02:03Z") == dt.datetime(2026, 11, 29, 1, 2, 3,
                                                                    tzinfo=dt.timezone.utc).timestamp()
    assert zendesk_timestamp("1795914123") == 1795914123.0
    assert zendesk_timestamp("inf") is None and zendesk_timestamp("") is None


def test_a_failure_on_our_side_lets_the_redelivery_through(engine, tmp_path, monkeypatch):
    import kasuhara.service.webhooks as wh

    real = wh.score_message
    monkeypatch.setattr(wh, "score_message", lambda *a: (_ for _ in ()).throw(RuntimeError("engine down")))
    with webhook_client(engine, tmp_path, zendesk_signing_secret=ZD_SECRET) as c:
        body = zendesk_body()
        headers = zendesk_headers(body)
        with pytest.raises(RuntimeError):
            c.post("/webhooks/zendesk", content=body, headers=headers)
        monkeypatch.setattr(wh, "score_message", real)
        assert c.post("/webhooks/zendesk", content=body, headers=headers).status_code == 200
        assert c.post("/webhooks/zendesk", content=body, headers=headers).status_code == 409


def test_push_back_clients_refuse_bad_ids_and_spent_deadlines():
    from kasuhara.service.ticketing import TicketingError, ZammadClient, ZendeskClient

    zd = ZendeskClient("http://127.0.0.1:9", "a@example.com", "t")
    with pytest.raises(TicketingError, match="not numeric"):
        zd.add_tags("../users/1", ["kasuhara_high"])
    with pytest.raises(TicketingError, match="no time left"):
        ZammadClient("http://127.0.0.1:9", "t").add_tags(5, ["kasuhara_high"], deadline=time.monotonic())
    with pytest.raises(ValueError):
        ZammadClient("file:///etc", "t")
