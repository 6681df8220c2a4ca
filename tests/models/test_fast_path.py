"""The engine's direct decision path gives the fitted Pipeline's numbers."""
import numpy as np
import pytest

from kasuhara.nlp.analysis import analyze
from kasuhara.training.corpus import load_split

pytestmark = pytest.mark.slow


def test_fast_features_equal_the_pipeline(engine, tokenizer):
    analyses = [analyze(r["text"], tokenizer) for r in load_split("test")[:150]]
    analyses.append(analyze("。", tokenizer))  # a message with no known n-gram
    model = engine.model
    assert np.allclose(model.predict_proba(analyses), model.pipeline.predict_proba(analyses), atol=1e-5)
    clf = model.pipeline.named_steps["clf"]
    X = model.pipeline.named_steps["features"].transform(analyses).toarray()
    n_ngrams = sum(len(step.steps[-1][1].vocabulary_)
                   for name, step in model.pipeline.named_steps["features"].transformer_list
                   if hasattr(step, "named_steps"))
    assert np.allclose(model._decision(analyses), X @ clf._weights() + clf.intercept_, atol=1e-5)
    ngram_only = clf.calibrate(X[:, :n_ngrams] @ clf._weights()[:n_ngrams] + clf.intercept_)
    assert np.allclose(model.ngram_proba(analyses), ngram_only, atol=1e-5)


@pytest.mark.parametrize("docs", [
    ["ふざけるな、返金しろ。", "お世話になっております。"],
    ["", " ", "a", "ab"],  # shorter than the n-gram sizes
    ["x\u3000\u3000 y\t\tz  w\n\nv"],  # whitespace runs, folded like scikit-learn does
    ["😀😀😀 絵文字", "\x00\x00x", "\ud800abc"],  # astral planes, NUL, a lone surrogate
    ["殺すぞ殺すぞ殺すぞ" * 50],  # repeats: counts above one
    ["ふざ", "けるな", "返", "金しろ"],  # n-grams across two documents of a batch must not count
])
def test_char_ngram_counting_equals_scikit_learn(docs):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from kasuhara.models.features import CompactTfidf

    corpus = ["ふざけるな返金しろ", "お世話になっております", "殺すぞ", "😀絵文字 x y", "\x00x a b"]
    for ngram_range in ((1, 3), (2, 3), (1, 1)):
        params = dict(analyzer="char", ngram_range=ngram_range, sublinear_tf=True, lowercase=False,
                      dtype=np.float32)
        ours = CompactTfidf(**params).fit(corpus)
        ref = TfidfVectorizer(**params).fit(corpus)
        assert ours._plain_char_analyzer()
        assert np.allclose(ours.fast_transform(docs).toarray(), ref.transform(docs).toarray(), atol=1e-6)


@pytest.mark.parametrize("docs", [
    ["為る! 返金 為る 。", "お 世話 に 成る"],
    ["", " ", "未知語 返金", "返金 未知語 為る!"],  # words the vocabulary never saw, on either side
    ["返金  為る", " 返金 為る "],  # several spaces are one separator
    ["返金 為る " * 40],
    ["返金", "為る", "お 世話", "に 成る"],  # bigrams across two documents of a batch must not count
])
def test_word_ngram_counting_equals_scikit_learn(docs):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from kasuhara.models.features import CompactTfidf

    corpus = ["為る! 返金 為る 。", "お 世話 に 成る 返金", "返金 為る", "殺す 為る!"]
    for ngram_range in ((1, 2), (1, 1), (2, 2)):
        params = dict(analyzer="word", token_pattern=r"[^ ]+", ngram_range=ngram_range, sublinear_tf=True,
                      lowercase=False, dtype=np.float32)
        ours = CompactTfidf(**params).fit(corpus)
        ref = TfidfVectorizer(**params).fit(corpus)
        assert ours._plain_word_analyzer()
        assert np.allclose(ours.fast_transform(docs).toarray(), ref.transform(docs).toarray(), atol=1e-6)
