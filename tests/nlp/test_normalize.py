import pytest

from kasuhara.nlp.normalize import fold_kana, normalize

CASES = [
    # original, normalised (kana folded)
    ("ｼﾈ", "しね"),
    ("し ね", "しね"),
    ("し　ね　よ", "しねよ"),
    ("殺.す", "殺す"),
    ("ぶ・っ・殺・す", "ぶっ殺す"),
    ("4ね", "しね"),
    ("○ね！", "しね!"),
    ("氏ね", "しね"),
    ("ﾀﾋね", "しね"),
    ("ぶっ○す", "ぶっ殺す"),
    ("ｸｿｶﾞｲｼｬ", "くそがいしゃ"),
    ("すみませーーーん！！！！！", "すみませーん!!!"),
    ("ＡＢＣ１２３", "abc123"),
    # ordinary text is left alone
    ("田中氏ね、その件は", "田中氏ね、その件は"),
    ("りんご・みかん", "りんご・みかん"),
    ("至急 対応してください", "至急 対応してください"),
    ("ジョン・スミス", "じょん・すみす"),
    # a plain run whose last letter takes a combining mark after it (the run's fast path stops short)
    ("ABCか\u3099ない", "abcがない"),
    ("テスト\u309aです", "てすと\u309aです"),
    ("cafe\u0301 OK", "café ok"),
    ("ばかばかばかばか", "ばかばかばかばか"),  # a repeated word is not a stretched letter
    ("ああああ", "あああ"),
    ("１１１１円", "1111円"),  # digits are never collapsed
    ("ほんとっっっに", "ほんとっに"),
]


@pytest.mark.parametrize("original,expected", CASES)
def test_normalize(original, expected):
    assert fold_kana(normalize(original).text) == expected


@pytest.mark.parametrize("original,_", CASES)
def test_offsets_point_into_the_original(original, _):
    m = normalize(original)
    assert len(m.starts) == len(m.ends) == len(m.text)
    for i in range(len(m.text)):
        assert 0 <= m.starts[i] < m.ends[i] <= len(original)
    # the whole normalised text maps onto a span that covers all of its sources
    if m.text:
        s, e = m.original_span(0, len(m.text))
        assert s == m.starts[0] and e <= len(original)


def test_base_offset_shifts_the_map():
    m = normalize("ｼﾈ", base=10)
    assert m.original_span(0, 2) == (10, 12)


def test_fold_kana_keeps_length():
    s = "カタカナとひらがな、ヴァイオリン"
    assert len(fold_kana(s)) == len(s)


def test_original_span_rejects_empty_span():
    with pytest.raises(ValueError):
        normalize("abc").original_span(2, 2)
