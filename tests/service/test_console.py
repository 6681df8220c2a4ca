"""The console's JSON API, pages and badge through the app (TestClient, the shipped model):
auth, 4xx for bad parameters, what is shown with and without stored text, the signed badge,
the pages' framing and script policy."""
import re
import uuid

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from kasuhara.service.app import create_app
from kasuhara.service.console import badge_signature
from kasuhara.service.settings import Settings

KEY = "k-console-1"
AUTH = {"Authorization": f"Bearer {KEY}"}
SECRET = "badge-secret"
THREAT = "いつまで待たせるんだ。今すぐ返金しろ。さもないとネットで晒してやるからな。"
POLITE = "配送状況を教えてください。"


def make_client(tmp_path, engine, **overrides):
    settings = Settings(**{"api_keys": [KEY], "database_url": f"sqlite:///{tmp_path / 'k.db'}",
                           "rate_limit_per_minute": 100_000, **overrides})
    return TestClient(create_app(settings, engine=engine))


@pytest.fixture(scope="module")
def client(tmp_path_factory, engine):
    with make_client(tmp_path_factory.mktemp("db"), engine, store_text=True, badge_secret=SECRET) as c:
        for ticket, cust, text in [("T-1", "cust-1", POLITE), ("T-2", "cust-1", THREAT), ("T-3", "cust-2", THREAT)]:
            r = c.post("/v1/score", json={"text": text, "ticket_id": ticket, "customer_id": cust}, headers=AUTH)
            assert r.status_code == 200
            c.app.state.store.flush()  # stored before the next one asks for the customer's history
        yield c


def row_of(client, ticket):
    return client.get(f"/v1/messages?ticket_id={ticket}", headers=AUTH).json()["items"][0]


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/1", "/v1/tickets/T-2", "/v1/console/meta",
                                  "/v1/tickets/T-2/badge-url"])
def test_console_api_needs_the_key(client, path):
    r = client.get(path)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("path,status,code", [
    ("/v1/messages?level=severe", 422, "invalid_level"),
    ("/v1/messages?level=high,nope", 422, "invalid_level"),
    ("/v1/messages?label=rudeness", 422, "unknown_label"),
    ("/v1/messages?limit=0", 422, "invalid_request"),
    ("/v1/messages?limit=201", 422, "invalid_request"),
    ("/v1/messages?limit=abc", 422, "invalid_request"),
    ("/v1/messages?before_id=-3", 422, "invalid_request"),
    ("/v1/messages?before_id=99999999999999999999", 422, "invalid_request"),  # beyond SQL integers
    ("/v1/messages?customer=XYZ", 422, "invalid_customer"),
    ("/v1/messages?customer=abc", 422, "invalid_customer"),
    ("/v1/messages?customer=abcdef&customer_id=c", 422, "invalid_request"),
    ("/v1/messages/abc", 422, "invalid_request"),
    ("/v1/messages/0", 404, "not_found"),
    ("/v1/messages/99999999999999999999", 404, "not_found"),  # beyond any id: no 5xx from the driver
    ("/v1/messages/424242", 404, "not_found"),
    ("/v1/tickets/NOPE", 404, "not_found"),
    ("/v1/tickets/" + "x" * 201, 422, "invalid_ticket_id"),
    ("/v1/tickets/a%00b", 422, "invalid_ticket_id"),  # PostgreSQL would refuse the NUL: not a 503
    ("/v1/messages?ticket_id=a%00b", 422, "invalid_ticket_id"),
    ("/badge/a%00b.svg?sig=" + "0" * 32, 403, "bad_signature"),
])
def test_bad_parameters_get_a_4xx(client, path, status, code):
    r = client.get(path, headers=AUTH)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


@pytest.mark.parametrize("query,tickets", [
    ("", ["T-3", "T-2", "T-1"]),
    ("?customer_id=cust-1", ["T-2", "T-1"]),
    ("?customer_id=someone-else", []),
    ("?label=threat", ["T-3", "T-2"]),
    ("?level=none", ["T-1"]),
    ("?ticket_id=T-3", ["T-3"]),
    ("?limit=1", ["T-3"]),
])
def test_queue_filters(client, query, tickets):
    r = client.get("/v1/messages" + query, headers=AUTH)
    assert r.status_code == 200
    assert [x["ticket_id"] for x in r.json()["items"]] == tickets


def test_queue_rows_carry_no_text_and_no_customer_id(client):
    body = client.get("/v1/messages", headers=AUTH).text
    assert "晒" not in body and "cust-1" not in body
    item = row_of(client, "T-2")
    assert item["text_stored"] is True and re.fullmatch(r"[0-9a-f]{12}", item["customer"])
    by_pseudonym = client.get(f"/v1/messages?customer={item['customer']}", headers=AUTH).json()["items"]
    assert [x["ticket_id"] for x in by_pseudonym] == ["T-2", "T-1"]


def test_paging_by_id(client):
    first = client.get("/v1/messages?limit=2", headers=AUTH).json()
    assert first["next_before_id"] == first["items"][-1]["id"]
    rest = client.get(f"/v1/messages?limit=2&before_id={first['next_before_id']}", headers=AUTH).json()
    assert [x["ticket_id"] for x in rest["items"]] == ["T-1"] and rest["next_before_id"] is None


def test_detail_has_evidence_on_the_original_text_actions_and_history(client):
    d = client.get(f"/v1/messages/{row_of(client, 'T-2')['id']}", headers=AUTH).json()
    assert d["text"] == THREAT and d["level"] in ("high", "critical") and "threat" in d["labels"]
    assert d["evidence"] and all(THREAT[e["start"]:e["end"]] == e["text"] for e in d["evidence"])
    assert d["actions"] and len(d["scores"]) == 15
    h = d["customer_history"]
    assert h["messages_total"] == 2 and h["messages_30d"] == 2 and h["labels_30d"].get("threat") == 1
    assert [r["ticket_id"] for r in h["recent"]] == ["T-2", "T-1"]
    assert d["history_at_scoring"]["messages_7d"] == 1  # T-1 was stored before T-2 was scored
    t = client.get("/v1/tickets/T-2", headers=AUTH).json()
    assert t["id"] == d["id"] and t["badge_url"] == f"/badge/T-2.svg?sig={badge_signature(SECRET, 'T-2')}"


def test_feedback_shows_in_the_detail(client):
    r = client.post("/v1/feedback", json={"ticket_id": "T-1", "labels": ["insult"], "harassment": True,
                                          "annotator": "console"}, headers=AUTH)
    assert r.status_code == 201
    fb = client.get("/v1/tickets/T-1", headers=AUTH).json()["feedback"]
    assert fb[0]["feedback_id"] == r.json()["feedback_id"] and fb[0]["labels"] == ["insult"]


def test_without_stored_text_the_detail_still_has_level_categories_and_actions(tmp_path, engine):
    with make_client(tmp_path, engine, store_text=False) as c:
        assert c.post("/v1/score", json={"text": THREAT, "ticket_id": "X"}, headers=AUTH).status_code == 200
        c.app.state.store.flush()
        d = c.get("/v1/tickets/X", headers=AUTH).json()
        assert d["text"] is None and d["text_stored"] is False and d["demands"] == []
        assert d["labels"] and d["actions"] and d["evidence"]
        assert all(e["text"] is None and e["end"] > e["start"] for e in d["evidence"])
        assert "晒" not in c.get("/v1/tickets/X", headers=AUTH).text
        assert c.get("/v1/console/meta", headers=AUTH).json()["store_text"] is False


def test_meta_lists_levels_and_categories_from_the_data_files(client):
    m = client.get("/v1/console/meta", headers=AUTH).json()
    assert [l["id"] for l in m["levels"]] == ["none", "low", "medium", "high", "critical"]
    assert [l["ja"] for l in m["levels"]] == ["なし", "低", "中", "高", "緊急"]
    assert [l["shield"] for l in m["levels"]] == [False, False, False, True, True]
    assert len(m["categories"]) == 15 and m["store_text"] is True


@pytest.mark.parametrize("ticket,sig,status", [
    ("T-2", "good", 200),
    ("NEVER-SCORED", "good", 200),
    ("T-2", None, 403),
    ("T-2", "0" * 32, 403),
    ("T-3", "sig-of-T-2", 403),
])
def test_badge_needs_a_signed_url(client, ticket, sig, status):
    good = badge_signature(SECRET, ticket)
    q = {"good": f"?sig={good}", None: "", "sig-of-T-2": f"?sig={badge_signature(SECRET, 'T-2')}"}.get(sig, f"?sig={sig}")
    r = client.get(f"/badge/{ticket}.svg{q}")
    assert r.status_code == status
    if status == 200:
        assert r.headers["content-type"].startswith("image/svg+xml")
        assert 'role="img"' in r.text and "<title>" in r.text
        assert ("未判定" in r.text) == (ticket == "NEVER-SCORED")


def test_badge_shows_the_latest_level_as_shape_and_text(client):
    level = row_of(client, "T-2")["level"]
    ja = client.get("/v1/console/meta", headers=AUTH).json()["levels"]
    text = next(l["ja"] for l in ja if l["id"] == level)
    url = client.get("/v1/tickets/T-2/badge-url", headers=AUTH).json()["url"]
    svg = client.get(url).text
    assert f">{text}</text>" in svg and re.search(r"<(path|rect|polygon|circle) ", svg)


@pytest.mark.parametrize("overrides,status", [
    ({"badge_secret": None}, 404),  # keys set, nothing to sign with: no badge
    ({"badge_secret": None, "api_keys": []}, 200),  # local mode: unsigned
])
def test_badge_without_a_secret(tmp_path, engine, overrides, status):
    with make_client(tmp_path, engine, **overrides) as c:
        assert c.get("/badge/T-1.svg").status_code == status


def test_pages_embed_no_key_and_frame_as_configured(tmp_path, engine):
    with make_client(tmp_path, engine, frame_ancestors="'self' https://acme.zendesk.com") as c:
        con = c.get("/console")
        assert con.status_code == 200 and "text/html" in con.headers["content-type"]
        assert con.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in con.headers["content-security-policy"]
        wid = c.get("/widget?ticket_id=T-1")
        assert "x-frame-options" not in wid.headers
        assert "frame-ancestors 'self' https://acme.zendesk.com" in wid.headers["content-security-policy"]
        for r in (con, wid):
            assert KEY not in r.text and "script-src 'self'" in r.headers["content-security-policy"]
            assert "<script>" not in r.text  # no inline script: the CSP forbids it
            assert 'lang="ja"' in r.text


@pytest.mark.parametrize("name,status,ctype", [
    ("console.js", 200, "text/javascript"),
    ("common.js", 200, "text/javascript"),
    ("kasuhara.css", 200, "text/css"),
    ("levels.css", 200, "text/css"),
    ("missing.js", 404, None),
    ("..%2Fapp.py", 404, None),
    ("console.html", 404, None),
])
def test_assets(client, name, status, ctype):
    r = client.get(f"/console/assets/{name}")
    assert r.status_code == status
    if ctype:
        assert r.headers["content-type"].startswith(ctype)


def test_level_colours_come_from_the_levels_data(client):
    from kasuhara.models.levels import load_levels

    css = client.get("/console/assets/levels.css").text
    for lv in load_levels().values():
        assert f"--lv-{lv.id}: {lv.colour};" in css and f"--lv-{lv.id}-bg: {lv.background};" in css
    assert "--lv-none:" not in client.get("/console/assets/kasuhara.css").text  # defined once


@pytest.mark.parametrize("value", ["'self'; script-src *", "'self'\r\nX: y", ""])
def test_frame_ancestors_setting_is_validated(value):
    with pytest.raises(ValidationError):
        Settings(frame_ancestors=value)


def test_metrics_name_routes_not_ids(client):
    client.get(f"/v1/messages/{row_of(client, 'T-1')['id']}", headers=AUTH)
    client.get(f"/v1/tickets/{uuid.uuid4().hex}", headers=AUTH)
    text = client.get("/metrics").text
    assert 'endpoint="/v1/messages/{row_id}"' in text and 'endpoint="/v1/tickets/{ticket_id:path}"' in text
    probe = "/v1/" + uuid.uuid4().hex  # a path no route knows: one shared label, not one per path
    client.get(probe, headers=AUTH)
    text = client.get("/metrics").text
    assert probe not in text and 'endpoint="unmatched"' in text


def test_a_ticket_id_with_a_slash_is_reachable(client):
    ticket = "ZD/" + uuid.uuid4().hex[:8]  # some ticketing systems number tickets like this
    r = client.post("/v1/score", json={"text": "ふざけるな、ネットに晒すぞ", "ticket_id": ticket}, headers=AUTH)
    assert r.status_code == 200
    client.app.state.store.flush()
    quoted = ticket.replace("/", "%2F")
    got = client.get(f"/v1/tickets/{quoted}", headers=AUTH)
    assert got.status_code == 200 and got.json()["ticket_id"] == ticket
    url = client.get(f"/v1/tickets/{quoted}/badge-url", headers=AUTH).json()["url"]
    badge = client.get(url)
    assert badge.status_code == 200 and "未判定" not in badge.text
