"""Training on a small slice: reproducible, saved with skops, loaded back, evaluated."""
import numpy as np
import pytest

from kasuhara.models import artifact
from kasuhara.models.engine import Engine
from kasuhara.models.messages import Message
from kasuhara.training import evaluate as ev
from kasuhara.training.corpus import load_split
from kasuhara.training.train import TrainConfig, choose_threshold, train

pytestmark = pytest.mark.slow
SMALL = TrainConfig(C=8.0, cv=3, n_jobs=1, char_max_features=20_000, lemma_max_features=5_000)


@pytest.fixture(scope="module")
def small_data():
    tr = [r for r in load_split("train") if r["source"] == "written"][::3]
    dv = [r for r in load_split("dev") if r["source"] == "written"][::2]
    return tr, dv


@pytest.fixture(scope="module")
def small_model(small_data):
    return train(*small_data, SMALL, quiet=True)


def test_training_is_reproducible(small_data, small_model):
    again = train(*small_data, SMALL, quiet=True)
    assert again.thresholds == small_model.thresholds
    a = small_model.pipeline.named_steps["clf"].coef_
    b = again.pipeline.named_steps["clf"].coef_
    assert np.array_equal(a, b)
    assert again.card["data_hash"] == small_model.card["data_hash"]


def test_saved_model_loads_and_scores_the_same(tmp_path, small_model):
    artifact.save(small_model, tmp_path)
    assert (tmp_path / "model_card.json").exists() and (tmp_path / "model_card.md").exists()
    loaded = artifact.load(tmp_path)
    e1, e2 = Engine.from_model(small_model, cascade=False), Engine.from_model(loaded, cascade=False)
    msg = Message(text="ふざけるな！！今すぐ社長を出せ。返金しないならSNSで晒すからな。")
    assert e1.score(msg).scores == pytest.approx(e2.score(msg).scores)
    assert loaded.card["thresholds"] == small_model.thresholds


def test_small_model_learns_something(small_model):
    eng = Engine.from_model(small_model, cascade=False)
    test = [r for r in load_split("test") if r["source"] == "written"]
    m = ev.evaluate_engine(eng, test)
    assert m["harassment"]["f1"] > 0.8
    assert m["fpr_non_harassment"] < 0.15


def test_choose_threshold_prefers_the_best_f1():
    prob = np.array([0.1, 0.2, 0.35, 0.6, 0.7, 0.9])
    truth = np.array([False, False, False, True, True, True])
    t = choose_threshold(prob, truth, 0.15, 0.85)
    assert 0.35 < t <= 0.6
