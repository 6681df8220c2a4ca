"""The shipped model through the engine: contract, evidence, obvious cases, history."""
import datetime as dt

import pytest

from kasuhara.models import artifact
from kasuhara.models.messages import Message

pytestmark = pytest.mark.slow
JST = dt.timezone(dt.timedelta(hours=9))

HARASSMENT = [
    ("ふざけるな！！今すぐ社長を出せ。返金しないならSNSで晒すからな。", {"threat", "intimidation"}),
    ("ｼﾈ　ｸｿｶﾞｲｼｬ", {"insult"}),
    ("今すぐ来い。来るまでここで待ってるからな。土下座しろ", {"dogeza"}),
    ("お前みたいな無能はさっさと辞めろ。給料泥棒が。", {"insult"}),
    ("回答をいただけるまで、毎日お電話させていただきます。何卒ご承知おきください。", {"persistence"}),
    ("御社の対応につきましては、実名を添えてSNSにて公開させていただく所存です。", {"threat"}),
    ("担当の女の子、声がかわいいね。今度二人で飲みに行こうよ。LINE教えて", {"sexual"}),
]
NOT_HARASSMENT = [
    "お世話になっております。納期を教えてください。",
    "この試薬で培養細胞を殺すまでの時間を教えてください。プロセスをkillする方法も知りたいです。",
    "届いた抗体が3回続けて不良でした。正直、大変失望しています。全額返金をお願いします。",
    "本件は弁護士と相談の上、改めてご連絡いたします。",
    "迅速に対応していただき、土下座したいくらい感謝しています。",
    "> お前みたいな無能は辞めろ\n\n先日は大変失礼なメールを送ってしまい申し訳ありませんでした。交換の件、よろしくお願いします。",
    "先週お問い合わせした件、まだご回答をいただけていません。お手数ですがご確認をお願いします。",
]


@pytest.mark.parametrize("text,expected", HARASSMENT)
def test_harassment_is_flagged(engine, text, expected):
    r = engine.score(Message(text=text))
    assert r.harassment, (text, r.scores)
    assert expected & set(r.labels), (text, r.labels)


@pytest.mark.parametrize("text", NOT_HARASSMENT)
def test_fair_messages_are_not_flagged(engine, text):
    r = engine.score(Message(text=text))
    assert not r.harassment, (text, r.labels, {l: round(r.scores[l], 2) for l in r.labels})


@pytest.mark.parametrize("text", [t for t, _ in HARASSMENT] + NOT_HARASSMENT)
def test_result_contract(engine, text):
    r = engine.score(Message(text=text, id="x"))
    d = r.as_dict()
    assert d["id"] == "x"
    assert list(d["scores"]) == list(engine.taxonomy.ids)
    assert 0 <= d["risk"] <= 1 and d["level"] in ("none", "low", "medium", "high", "critical")
    assert d["harassment"] == any(l in engine.taxonomy.conduct_ids for l in d["labels"])
    for label in d["labels"]:
        assert any(e["label"] == label for e in d["evidence"]), f"{label} has no evidence"
    for e in d["evidence"]:
        assert text[e["start"]:e["end"]] == e["text"] and e["text"].strip()
    assert d["actions"] and d["model_version"] == engine.version


def test_demand_alone_is_not_harassment(engine):
    r = engine.score(Message(text="届いた商品が破損していました。新品と交換していただけますでしょうか。"))
    assert not r.harassment
    assert "demand_exchange" in r.labels


def test_batch_equals_single(engine):
    texts = [t for t, _ in HARASSMENT[:3]] + NOT_HARASSMENT[:3]
    batch = engine.score_batch([Message(text=t) for t in texts])
    for t, b in zip(texts, batch):
        s = engine.score(Message(text=t))
        assert s.labels == b.labels and s.scores == pytest.approx(b.scores)


def test_history_raises_persistence_for_a_repeating_customer(engine):
    start = dt.datetime(2026, 10, 1, 9, 0, tzinfo=JST)
    msgs = [Message(text=f"返金はまだですか。{i}回目の連絡です。早く返金してください。", id=str(i), customer_id="c1",
                    received_at=start + dt.timedelta(hours=2 * i)) for i in range(8)]
    res = engine.score_batch(list(reversed(msgs)))  # input order does not matter, time does
    by_id = {r.id: r for r in res}
    assert by_id["0"].history.messages_24h == 0
    assert by_id["7"].history.messages_24h == 7
    assert by_id["7"].scores["persistence"] > by_id["0"].scores["persistence"]
    assert by_id["7"].history.persistence > 0.8


def test_evidence_offsets_survive_normalisation(engine):
    text = "件名：至急\n\nお世話になっております。\nｼﾈ！！！　し ね　４ね"
    r = engine.score(Message(text=text))
    assert "insult" in r.labels
    for e in r.evidence:
        assert text[e.start:e.end] == e.text


def test_corrupt_model_is_refused(tmp_path):
    bad = tmp_path / "model.skops"
    bad.write_bytes(b"not a zip")
    with pytest.raises(artifact.ArtifactError):
        artifact.load(tmp_path)
    with pytest.raises(artifact.ArtifactError):
        artifact.load(tmp_path / "missing")


def test_model_card_describes_itself(engine):
    card = engine.model.card
    for key in ("version", "data_hash", "labels", "thresholds", "metrics", "training_config"):
        assert key in card
    assert card["labels"] == list(engine.taxonomy.ids)


@pytest.fixture(scope="module")
def cascade_engine():
    from kasuhara.models.engine import Engine

    return Engine.load(cascade=True)


def test_cascade_finds_demands_amounts_and_targets(cascade_engine):
    text = "件名：至急\n\n担当の佐藤をクビにしろ。5万円を返金しろ。"
    r = cascade_engine.score(Message(text=text))
    d = r.as_dict()
    assert r.harassment
    whats = [x["what"] for x in d["demands"]]
    assert any("返金" in w for w in whats)
    assert any(x["amount"] == "5万円" for x in d["demands"])
    assert any(t["text"] == "佐藤" for t in d["targets"])
    for x in d["demands"] + d["targets"]:
        assert text[x["start"]:x["end"]] == x["text"]


def test_without_cascade_the_fields_are_present_but_empty(engine):
    d = engine.score(Message(text="5万円を返金しろ。")).as_dict()
    assert d["demands"] == [] and d["targets"] == []


def test_negated_announcement_is_weakened_by_the_cascade(engine, cascade_engine):
    text = "SNSに晒すつもりはありませんが、今回の対応には大変失望しました。"
    plain = engine.score(Message(text=text)).scores["threat"]
    deep = cascade_engine.score(Message(text=text)).scores["threat"]
    assert deep <= plain


def test_a_negated_condition_does_not_cancel_the_threat_after_it(cascade_engine):
    r = cascade_engine.score(Message(text="返金しないならSNSで晒すからな"))
    assert "threat" in r.labels
