"""The comparison report: metrics, deltas, co-occurrence, reliability, PNG and HTML files."""
import numpy as np
import pytest

from kasuhara.models.taxonomy import load_taxonomy
from kasuhara.training.report import (Scored, compare, cooccurrence, drift_html, metrics_of, plot_drift, reliability,
                                      write_report)

TAX = load_taxonomy()
K = len(TAX.ids)
PNG = b"\x89PNG\r\n\x1a\n"


def scored(name, y_true, noise, seed):
    rng = np.random.default_rng(seed)
    scores = np.clip(y_true * 0.8 + rng.normal(0, noise, y_true.shape) + 0.1, 0, 1)
    conduct = np.array([c.group == "conduct" for c in TAX.categories])
    return Scored(name, f"v-{name}", y_true.astype(bool), scores >= 0.5, scores,
                  scores[:, conduct].max(axis=1), np.zeros(len(y_true), dtype=bool))


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    y = (rng.random((120, K)) < 0.2).astype(int)
    return scored("serving", y, 0.1, 1), scored("candidate", y, 0.35, 2)


def test_cooccurrence_rows_are_shares_of_the_true_label():
    y_true = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=bool)
    y_pred = np.array([[1, 1], [0, 0], [0, 1], [0, 0]], dtype=bool)
    M = cooccurrence(y_true, y_pred)
    assert M.shape == (3, 3)
    assert M[0].tolist() == [0.5, 0.5, 0.5]  # label 0: once right, once also called 1, once nothing
    assert M[1].tolist() == [0.0, 1.0, 0.0]
    assert M[2].tolist() == [0.0, 0.0, 1.0]  # the message with no label got none


def test_reliability_bins():
    prob = np.array([0.05, 0.05, 0.95, 0.95])
    truth = np.array([0.0, 1.0, 1.0, 1.0])
    assert reliability(prob, truth) == [(0.05, 0.5, 2), (0.95, 1.0, 2)]


def test_compare_deltas_and_ap(pair):
    base, cand = pair
    mb, mc = metrics_of(base), metrics_of(cand)
    assert all(0 <= m["ap"] <= 1 + 1e-9 for m in mb["per_label"].values()), [m["ap"] for m in mb["per_label"].values()]
    cmp = compare(mb, mc, list(TAX.ids))
    d = cmp["per_label"]["threat"]["f1"]
    assert d["delta"] == pytest.approx(d["candidate"] - d["baseline"])
    assert cmp["overall"]["conduct_macro_f1"]["delta"] < 0  # the noisier candidate is worse


def test_report_files(tmp_path, pair):
    rep = write_report(tmp_path / "r", *pair, "synthetic")
    for f in ("pr_curves.png", "confusion_candidate.png", "confusion_serving.png", "calibration.png"):
        assert (tmp_path / "r" / f).read_bytes()[:8] == PNG
    page = (tmp_path / "r" / "index.html").read_text("utf-8")
    assert page.count("data:image/png;base64,") == 4
    assert all(c.ja in page for c in TAX.categories) and "v-candidate" in page
    assert (tmp_path / "r" / "comparison.json").exists() and rep["n"] == 120


def test_drift_section(tmp_path):
    import datetime as dt

    from kasuhara.models.drift import drift_report

    t = dt.datetime(2026, 11, 1, 3, tzinfo=dt.timezone.utc)
    rows = [{"received_at": t + dt.timedelta(days=d), "labels": ["threat"] if i < 4 * d + 2 else [], "scores": {},
             "harassment": i < 4 * d + 2, "risk": 0.5} for d in range(3) for i in range(20)]
    rep = drift_report(rows, t, t + dt.timedelta(days=3))
    page = drift_html(rep)
    assert "2026-11-03" in page and "脅迫の割合が基準 10.0% から 50.0% に上昇" in page
    assert plot_drift(rep, tmp_path / "d.png").read_bytes()[:8] == PNG
    assert plot_drift({"series": []}, tmp_path / "e.png") is None
