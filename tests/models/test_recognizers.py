"""Rule recognisers: table-driven positives and look-alike negatives per label."""
import pytest

from kasuhara.models.recognizers import default_recognizers, find, parse_recognizers
from kasuhara.nlp.analysis import analyze

POSITIVE = [
    ("violence", "夜道に気をつけろよ"),
    ("violence", "今から殴りに行くからな"),
    ("violence", "ぶっ殺すぞ"),
    ("threat", "返金しないならSNSで晒すからな"),
    ("threat", "ネットに実名で書き込んでやる"),
    ("defamation", "ここは詐欺会社だと口コミに書く"),
    ("insult", "この給料泥棒が"),
    ("insult", "ｼﾈ"),
    ("insult", "お前 し ね よ"),
    ("intimidation", "ふざけるな！！"),
    ("intimidation", "なめてんのか"),
    ("authority", "俺を誰だと思ってるんだ"),
    ("authority", "御社の社長とは知り合いだぞ"),
    ("dogeza", "土下座して謝れ"),
    ("dogeza", "ドゲザしろ"),
    ("persistence", "回答があるまで毎日電話する"),
    ("restraint", "回答するまで帰らない"),
    ("restraint", "電話を切るな"),
    ("discrimination", "女じゃ話にならない"),
    ("sexual", "彼氏いるの？"),
    ("personal_attack", "担当の佐藤をクビにしろ"),
    ("demand_compensation", "全額返金してください"),
    ("demand_exchange", "良品と交換してください"),
    ("demand_apology", "謝罪文を出していただきたい"),
]
NEGATIVE = [
    ("violence", "この試薬で細胞を殺すのに何分かかりますか"),
    ("violence", "プロセスをkillしても殺すことができません"),
    ("dogeza", "土下座したいくらい感謝しています"),
    ("dogeza", "土下座してでもお願いしたいほど困っております"),
    ("threat", "弁護士と相談の上、改めてご連絡いたします"),
    ("insult", "私がバカでした、確認不足です"),
    ("defamation", "詐欺メールにご注意くださいという案内が届きました"),
    ("restraint", "ご来店をお待ちしております"),
    ("sexual", "Mサイズの下着を交換したいです"),
]


@pytest.fixture(scope="module")
def recs():
    return default_recognizers()


@pytest.mark.parametrize("label,text", POSITIVE)
def test_positive(recs, tokenizer, label, text):
    a = analyze(text, tokenizer)
    hits = [h for h in find(a, recs) if h.label == label]
    assert hits, f"{label} not found in {text}"
    for h in hits:
        s, e = a.original_span(h.start, h.end)
        assert text[s:e].strip()


@pytest.mark.parametrize("label,text", NEGATIVE)
def test_negative(recs, tokenizer, label, text):
    assert not [h for h in find(analyze(text, tokenizer), recs) if h.label == label and not h.against]


@pytest.mark.parametrize("label,text", [
    ("violence", "この試薬で細胞を殺すのに何分かかりますか"),
    ("violence", "kill -9 でプロセスを止めました"),
    ("dogeza", "土下座したいくらい感謝しています"),
    ("threat", "弁護士と相談の上、改めてご連絡いたします"),
    ("insult", "私がバカでした、確認不足です"),
])
def test_counter_recognisers_mark_the_look_alikes(recs, tokenizer, label, text):
    """The taxonomy's 'not this' cases give counter-features the classifier can learn from."""
    assert [h for h in find(analyze(text, tokenizer), recs) if h.label == label and h.against]


def test_declarations_are_validated():
    with pytest.raises(ValueError):
        parse_recognizers({"recognizers": [{"name": "x", "label": "nope", "pattern": "a", "strength": 1,
                                            "explanation": ""}]}, ("insult",))
    with pytest.raises(ValueError):
        parse_recognizers({"recognizers": [{"name": "x", "label": "insult", "pattern": "(", "strength": 1,
                                            "explanation": ""}]}, ("insult",))
