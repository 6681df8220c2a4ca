"""The engine's direct feature path gives the fitted Pipeline's numbers."""
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
    union = model.pipeline.named_steps["features"]
    slow = union.transform(analyses).toarray()
    fast = model._features(analyses).toarray()
    assert np.allclose(slow, fast, atol=1e-5)


@pytest.mark.parametrize("docs", [
    ["ふざけるな、返金しろ。", "お世話になっております。"],
    ["", " ", "a", "ab"],  # shorter than the n-gram sizes
    ["x\u3000\u3000 y\t\tz  w\n\nv"],  # whitespace runs, folded like scikit-learn does
    ["😀😀😀 絵文字", "\x00\x00x", "\ud800abc"],  # astral planes, NUL, a lone surrogate
    ["殺すぞ殺すぞ殺すぞ" * 50],  # repeats: counts above one
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
