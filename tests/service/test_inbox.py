"""The console's read side of the store on SQLite and on PostgreSQL (own schema): migrations 0002
and 0003 over existing rows, feedback tied to one message, what is kept with and without text,
retention, the queue filters and paging, a customer's history."""
import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from kasuhara.models.messages import message_from_dict
from kasuhara.service.inbox import QueueFilter, customer_history, get_message, latest_for_ticket, list_messages
from kasuhara.service import storage
from kasuhara.service.storage import Store

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TEXT = "今すぐ返金しろ。さもないとネットで晒すからな。"


def result(level: str, labels: list[str], text: str = TEXT) -> dict:
    start = text.index("ネット") if "ネット" in text else 0
    return {"id": None, "harassment": level in ("medium", "high", "critical"), "risk": 0.9, "level": level,
            "labels": labels, "scores": {l: 0.9 for l in labels}, "model_version": "v-test",
            "evidence": [{"label": l, "start": start, "end": start + 5, "text": text[start:start + 5], "score": 0.9,
                          "source": "rule", "explanation": "公開・拡散による脅し"} for l in labels],
            "actions": ["上長へ即時エスカレーション"],
            "demands": [{"what": "返金", "of": None, "kind": "compensation", "amount": None, "start": 3, "end": 5,
                         "text": text[3:5]}],
            "targets": [], "history": {"messages_24h": 1, "messages_7d": 2, "persistence": 0.3}}



def make_store(url: str, store_text: bool) -> Store:
    s = Store(url, store_text=store_text, retention_days=30)
    s.migrate()
    return s


def save(store, level, labels, ticket=None, customer=None, hours_ago=1, text=TEXT, now=NOW):
    msg = message_from_dict({"text": text, "id": uuid.uuid4().hex, "customer_id": customer,
                             "received_at": (now - dt.timedelta(hours=hours_ago)).isoformat()})
    store.save_result(result(level, labels, text), msg, ticket, now)


def upgrade_to(store: Store, revision: str) -> None:
    """Migrate a fresh store only up to ``revision`` (rows of an older release go in next)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(storage.__file__).parent / "migrations"))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_migration_0002_keeps_existing_rows(url):
    s = Store(url)
    upgrade_to(s, "0001")
    with s.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO scored_message (ticket_id, received_at, scored_at, harassment, risk, level, "
                             "labels, scores, model_version) VALUES ('old-1', :t, :t, true, 0.8, 'high', "
                             "'[\"insult\"]', '{}', 'v0')"), {"t": NOW})
    s.migrate()
    d = latest_for_ticket(s, "old-1", NOW)
    assert d["level"] == "high" and d["labels"] == ["insult"]
    assert d["detail_stored"] is False and d["evidence"] == [] and d["text"] is None


def test_migration_0003_keeps_ticket_feedback_and_ties_new_feedback_to_its_message(url):
    s = Store(url, store_text=True)
    upgrade_to(s, "0002")
    with s.engine.begin() as conn:  # a ticket with two messages and a verdict given on the ticket
        for k, text in enumerate(["一通目の本文", "二通目の本文"]):
            conn.execute(sa.text("INSERT INTO scored_message (ticket_id, received_at, scored_at, harassment, risk, "
                                 "level, labels, scores, model_version, text) VALUES ('old-9', :t, :t, false, 0.1, "
                                 "'none', '[]', '{}', 'v0', :text)"), {"t": NOW + dt.timedelta(hours=k), "text": text})
        conn.execute(sa.text("INSERT INTO feedback (ticket_id, labels, harassment, created_at) "
                             "VALUES ('old-9', '[\"insult\"]', true, :t)"), {"t": NOW + dt.timedelta(hours=2)})
    s.migrate()
    insp = sa.inspect(s.engine)
    assert "scored_message_id" in {c["name"] for c in insp.get_columns("feedback")}
    assert "ix_feedback_scored_message_id" in {i["name"] for i in insp.get_indexes("feedback")}
    second, first = [r["id"] for r in list_messages(s, QueueFilter(ticket_id="old-9"))["items"]]
    legacy = get_message(s, first, NOW)["feedback"]
    assert [f["message"] for f in legacy] == [None] and get_message(s, second, NOW)["feedback"] == legacy

    saved = s.save_feedback({"ticket_id": "old-9", "message": first, "labels": ["threat"], "harassment": True},
                            "actor-1", NOW + dt.timedelta(hours=3))
    assert saved["message"] == first
    assert [f["feedback_id"] for f in get_message(s, first, NOW)["feedback"]] == \
        [saved["feedback_id"], legacy[0]["feedback_id"]]
    assert get_message(s, second, NOW)["feedback"] == legacy  # not the verdict on the first message
    with s.engine.connect() as c:
        stored = c.execute(sa.text("SELECT scored_message_id FROM feedback WHERE id = :i"),
                           {"i": saved["feedback_id"]}).scalar_one()
        audit = c.execute(sa.text("SELECT detail FROM audit_event WHERE action = 'feedback'")).scalar_one()
    audit = audit if isinstance(audit, dict) else json.loads(audit)
    assert stored == first and audit["scored_message_id"] == first

    # the analysts' import: the named message's text; the ticket's verdict keeps today's rule
    assert [(f["scored_message_id"], f["text"]) for f in s.feedback_with_text()] == \
        [(None, "二通目の本文"), (first, "一通目の本文")]
    with s.engine.begin() as c:  # once the named message's text is gone, no other message stands in
        c.execute(sa.text("UPDATE scored_message SET text = NULL WHERE id = :i"), {"i": first})
    assert [f["text"] for f in s.feedback_with_text()] == ["二通目の本文", None]


@pytest.mark.parametrize("store_text", [False, True])
def test_detail_keeps_customer_words_only_with_the_text(url, store_text):
    s = make_store(url, store_text)
    save(s, "critical", ["threat"], ticket="t-1", customer="c-1")
    d = latest_for_ticket(s, "t-1", NOW)
    assert d["actions"] == ["上長へ即時エスカレーション"] and d["history_at_scoring"]["persistence"] == 0.3
    ev = d["evidence"][0]
    assert (ev["label"], ev["source"], ev["explanation"]) == ("threat", "rule", "公開・拡散による脅し")
    with s.engine.connect() as c:
        detail, quoted = c.execute(sa.text("SELECT detail, quoted FROM scored_message")).one()
    assert "ネット" not in str(detail)  # the detail column never holds customer words
    if store_text:
        assert d["text"] == TEXT and ev["text"] == TEXT[ev["start"]:ev["end"]] == "ネットで晒"
        assert d["demands"][0]["what"] == "返金"
        assert d["text_expires_at"] is not None
    else:
        assert d["text"] is None and ev["text"] is None and d["demands"] == [] and quoted is None


def test_retention_clears_text_and_quotes_but_keeps_the_detail(url):
    s = make_store(url, True)
    save(s, "high", ["insult"], ticket="t-old", now=NOW - dt.timedelta(days=40))
    save(s, "high", ["insult"], ticket="t-new", now=NOW)
    assert s.purge_expired_text(NOW) == 1
    old, new = latest_for_ticket(s, "t-old", NOW), latest_for_ticket(s, "t-new", NOW)
    assert old["text"] is None and old["demands"] == [] and old["evidence"][0]["text"] is None
    assert old["actions"] and old["evidence"][0]["start"] == TEXT.index("ネット")
    assert new["text"] == TEXT and new["demands"]


@pytest.fixture
def queue_store(url):
    s = make_store(url, False)
    rows = [("none", [], "t1", "alice"), ("low", ["demand_compensation"], "t2", "bob"),
            ("medium", ["intimidation"], "t3", "alice"), ("high", ["insult", "personal_attack"], "t4", "carol"),
            ("critical", ["threat", "demand_compensation"], "t5", "alice"), ("high", ["insult"], "t4", "carol")]
    for k, (level, labels, ticket, cust) in enumerate(rows):
        save(s, level, labels, ticket=ticket, customer=cust, hours_ago=len(rows) - k)
    return s


@pytest.mark.parametrize("flt,tickets", [
    (QueueFilter(), ["t4", "t5", "t4", "t3", "t2", "t1"]),
    (QueueFilter(levels=("high", "critical")), ["t4", "t5", "t4"]),
    (QueueFilter(levels=("none",)), ["t1"]),
    (QueueFilter(label="demand_compensation"), ["t5", "t2"]),
    (QueueFilter(label="insult"), ["t4", "t4"]),
    (QueueFilter(label="attack"), []),  # no substring matches of ids
    (QueueFilter(ticket_id="t4"), ["t4", "t4"]),
    (QueueFilter(levels=("medium", "critical"), label="threat"), ["t5"]),
    (QueueFilter(limit=2), ["t4", "t5"]),
])
def test_queue_filters(queue_store, flt, tickets):
    assert [r["ticket_id"] for r in list_messages(queue_store, flt)["items"]] == tickets


def test_queue_by_customer_pseudonym_and_paging(queue_store):
    key = queue_store.key("alice")
    for k in (key, key[:12]):
        assert [r["ticket_id"] for r in list_messages(queue_store, QueueFilter(customer_key=k))["items"]] == \
            ["t5", "t3", "t1"]
    page1 = list_messages(queue_store, QueueFilter(limit=4))
    assert page1["next_before_id"] == page1["items"][-1]["id"]
    page2 = list_messages(queue_store, QueueFilter(limit=4, before_id=page1["next_before_id"]))
    assert [r["ticket_id"] for r in page2["items"]] == ["t2", "t1"] and page2["next_before_id"] is None
    assert all("alice" not in json.dumps(r) for r in page1["items"] + page2["items"])


def test_customer_history_and_one_message(queue_store):
    with queue_store.engine.connect() as conn:
        h = customer_history(conn, queue_store.key("alice"), NOW)
    assert (h["messages_total"], h["messages_1d"], h["messages_30d"], h["harassment_30d"]) == (3, 3, 3, 2)
    assert h["labels_30d"] == {"intimidation": 1, "threat": 1, "demand_compensation": 1}
    assert [r["ticket_id"] for r in h["recent"]] == ["t5", "t3", "t1"]
    latest = latest_for_ticket(queue_store, "t4", NOW)
    assert latest["labels"] == ["insult"]  # the later of the two t4 rows
    assert get_message(queue_store, latest["id"], NOW)["id"] == latest["id"]
    assert get_message(queue_store, 10**9, NOW) is None and latest_for_ticket(queue_store, "nope", NOW) is None
