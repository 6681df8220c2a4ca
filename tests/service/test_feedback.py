"""POST /v1/feedback on one scored message (``message``: the id the console API gives it): 4xx for
bad references, and feedback on one message of a ticket shown on that message only."""
import pytest
from fastapi.testclient import TestClient

from kasuhara.service.app import create_app
from kasuhara.service.settings import Settings

KEY = "k-feedback-1"
AUTH = {"Authorization": f"Bearer {KEY}"}
# one ticket, two messages from the same customer; and a ticket of its own
MESSAGES = [("T-9", "m-9a", "商品が届きません。いつ届くのか教えてください。"),
            ("T-9", "m-9b", "ふざけるな。今すぐ返金しろ。さもないとネットで晒すぞ。"),
            ("T-8", "m-8", "配送状況を教えてください。")]


@pytest.fixture(scope="module")
def client(tmp_path_factory, engine):
    db = tmp_path_factory.mktemp("fb") / "k.db"
    settings = Settings(api_keys=[KEY], database_url=f"sqlite:///{db}", store_text=True,
                        rate_limit_per_minute=100_000)
    with TestClient(create_app(settings, engine=engine)) as c:
        for ticket, mid, text in MESSAGES:
            r = c.post("/v1/score", json={"text": text, "id": mid, "ticket_id": ticket, "customer_id": "c-9"},
                       headers=AUTH)
            assert r.status_code == 200
            c.app.state.store.flush()
        yield c


@pytest.fixture(scope="module")
def rows(client):
    """The console's ids of the messages, in MESSAGES order."""
    items = list(reversed(client.get("/v1/messages", headers=AUTH).json()["items"]))  # oldest first
    assert [x["ticket_id"] for x in items] == [t for t, _, _ in MESSAGES]
    return [x["id"] for x in items]


def post(client, **body):
    return client.post("/v1/feedback", json={"labels": ["insult"], "harassment": True, **body}, headers=AUTH)


def detail(client, row_id):
    return client.get(f"/v1/messages/{row_id}", headers=AUTH).json()


@pytest.mark.parametrize("body,code", [
    ({}, "missing_reference"),
    ({"ticket_id": ""}, "missing_reference"),
    ({"message": 0}, "invalid_request"),
    ({"message": -1}, "invalid_request"),
    ({"message": "1"}, "invalid_request"),  # a number, not a string
    ({"message": 1.5}, "invalid_request"),
    ({"message": True}, "invalid_request"),
    ({"message": 2**63}, "invalid_request"),  # beyond SQL integers: no 5xx from the driver
    ({"message": 424242}, "unknown_message"),
    ({"message": 424242, "ticket_id": "T-9"}, "unknown_message"),
    ({"message": "{0}", "ticket_id": "T-8"}, "reference_mismatch"),  # message 1 is in T-9
    ({"message": "{2}", "ticket_id": "T-9"}, "reference_mismatch"),
    ({"message": "{0}", "id": "m-9b"}, "reference_mismatch"),  # the other message of the ticket
    ({"message": "{0}", "labels": ["nope"]}, "unknown_label"),
])
def test_bad_references_get_a_422(client, rows, body, code):
    if isinstance(body.get("message"), str) and body["message"].startswith("{"):
        body = {**body, "message": rows[int(body["message"][1:-1])]}
    r = post(client, comment="拒否されるはず", **body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert all(f["comment"] != "拒否されるはず" for k in rows for f in detail(client, k)["feedback"])


def test_feedback_on_one_message_shows_on_that_message_only(client, rows):
    first, second, other = rows
    r = post(client, message=first, ticket_id="T-9", comment="一通目について")
    assert r.status_code == 201, r.text
    saved = r.json()
    assert saved["message"] == first and saved["ticket_id"] == "T-9"
    assert [(f["feedback_id"], f["message"]) for f in detail(client, first)["feedback"]] == \
        [(saved["feedback_id"], first)]
    assert detail(client, second)["feedback"] == [] and detail(client, other)["feedback"] == []
    # the widget's view of the ticket is its latest message: not this verdict either
    assert client.get("/v1/tickets/T-9", headers=AUTH).json()["feedback"] == []


@pytest.mark.parametrize("body", [{"id": "m-8"}, {"ticket_id": "T-8", "id": "m-8"}, {}])
def test_message_alone_or_with_agreeing_ids_is_enough(client, rows, body):
    r = post(client, message=rows[2], labels=[], harassment=False, **body)
    assert r.status_code == 201, r.text
    assert r.json()["ticket_id"] == "T-8"  # filled in from the message when not given
    assert r.json()["feedback_id"] in [f["feedback_id"] for f in detail(client, rows[2])["feedback"]]


def test_ticket_feedback_without_message_still_shows_on_every_message_of_the_ticket(client, rows):
    r = post(client, ticket_id="T-9", comment="チケット全体")
    assert r.status_code == 201 and r.json()["message"] is None
    for row_id in rows[:2]:
        assert r.json()["feedback_id"] in [f["feedback_id"] for f in detail(client, row_id)["feedback"]]
