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
