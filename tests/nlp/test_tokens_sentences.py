from kasuhara.nlp.analysis import analyze
from kasuhara.nlp.sentences import split


def test_sentences_have_offsets():
    text = "ふざけるな！！今すぐ社長を出せ。\n返金しないならSNSで晒すからな"
    sents = split(text)
    assert [s.text for s in sents] == ["ふざけるな！！", "今すぐ社長を出せ。", "返金しないならSNSで晒すからな"]
    for s in sents:
        assert text[s.start:s.end] == s.text


def test_tokens_mark_imperatives(tokenizer):
    toks = tokenizer("さっさと返金しろ")
    assert [t.surface for t in toks] == ["さっさと", "返金", "しろ"]
    assert toks[-1].cform.startswith("命令形")
    text = "さっさと返金しろ"
    assert all(text[t.start:t.end] == t.surface for t in toks)


def test_analysis_view_excludes_quotes_and_maps_back(tokenizer):
    text = "先日は失礼しました。\n> 無能め"
    a = analyze(text, tokenizer)
    assert "無能" not in a.view.text
    s, e = a.original_span(0, 3)
    assert text[s:e] == "先日は"
    assert a.quoted_chars > 0


def test_separate_subject_feeds_features_only(tokenizer):
    a = analyze("本文です。", tokenizer, subject="ｼﾈ")
    assert a.subject == "しね"
    assert "しね" not in a.view.text
