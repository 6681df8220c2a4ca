"""Drift: daily label rates and risk quantiles, the reference, alerts."""
import datetime as dt

import pytest

from kasuhara.models.drift import JST, card_reference, day_start, drift_report, series
from kasuhara.models.taxonomy import load_taxonomy

TAX = load_taxonomy()
UTC = dt.timezone.utc


def row(t, labels=(), risk=0.1):
    return {"received_at": t, "labels": list(labels), "scores": {l: 0.9 for l in labels}, "risk": risk,
            "harassment": any(l in TAX.conduct_ids for l in labels)}


@pytest.mark.parametrize("utc_time, jst_day", [
    (dt.datetime(2026, 11, 1, 14, 59, tzinfo=UTC), "2026-11-01"),  # 23:59 JST
    (dt.datetime(2026, 11, 1, 15, 0, tzinfo=UTC), "2026-11-02"),  # 00:00 JST the next day
])
def test_days_are_japanese_days(utc_time, jst_day):
    assert day_start(utc_time).isoformat().startswith(jst_day) and day_start(utc_time).tzinfo == JST


def test_series_rates_and_quantiles():
    d1 = dt.datetime(2026, 11, 1, 1, tzinfo=UTC)
    rows = [row(d1, ["threat"], 0.9), row(d1), row(d1, ["demand_exchange"]), row(d1),
            row(d1 + dt.timedelta(days=2), ["insult"], 0.8)]
    s = series(rows, TAX.ids)
    assert [b["start"][:10] for b in s] == ["2026-11-01", "2026-11-03"]  # empty days are not invented
    assert s[0]["messages"] == 4 and s[0]["harassment_rate"] == 0.25
    assert s[0]["label_rates"]["threat"] == 0.25 and s[0]["label_rates"]["demand_exchange"] == 0.25
    assert s[0]["score_means"]["threat"] == pytest.approx(0.225)
    assert s[0]["risk_quantiles"]["p50"] == pytest.approx(0.1) and set(s[0]["risk_quantiles"]) == {"p50", "p90", "p99"}
    assert set(s[0]["label_rates"]) == set(TAX.ids)


def days_of(rates: list[float], n=40):
    """One day per rate: n messages of which that share carries ``threat``."""
    rows = []
    start = dt.datetime(2026, 11, 1, 3, tzinfo=UTC)
    for k, rate in enumerate(rates):
        t = start + dt.timedelta(days=k)
        rows += [row(t, ["threat"] if i < round(rate * n) else []) for i in range(n)]
    return rows


@pytest.mark.parametrize("rates, threshold, alerted", [
    ([0.1, 0.1, 0.12], 0.1, set()),
    ([0.1, 0.1, 0.4], 0.1, {"threat", "harassment"}),
    ([0.5, 0.5, 0.1], 0.1, {"threat", "harassment"}),  # a fall is drift too
    ([0.1, 0.1, 0.4], 0.5, set()),
])
def test_alerts_against_the_first_day(rates, threshold, alerted):
    rows = days_of(rates)
    rep = drift_report(rows, rows[0]["received_at"], rows[-1]["received_at"], threshold=threshold)
    assert rep["bucket"] == "day" and len(rep["series"]) == len(rates)
    assert rep["reference"]["source"].startswith("first day")
    assert {a["label"] for a in rep["alerts"]} == alerted
    for a in rep["alerts"]:
        assert "基準" in a["message"] and ("上昇" in a["message"] or "低下" in a["message"])


def test_small_days_raise_no_alert():
    rows = days_of([0.1, 0.9], n=5)
    assert drift_report(rows, rows[0]["received_at"], rows[-1]["received_at"], min_messages=20)["alerts"] == []


def test_reference_from_the_model_card():
    card = {"version": "v1", "metrics": {"test": {"systems": {"model v1": {
        "n": 100, "harassment": {"support": 40},
        "per_label": {l: {"support": 10 if l == "threat" else 0} for l in TAX.ids}}}}}}
    ref = card_reference(card)
    assert ref["harassment_rate"] == 0.4 and ref["label_rates"]["threat"] == 0.1
    rows = days_of([0.1])
    rep = drift_report(rows, rows[0]["received_at"], rows[-1]["received_at"], reference=ref)
    assert {a["label"] for a in rep["alerts"]} == {"harassment"}  # 10 % harassment against 40 %
    assert card_reference({"metrics": {}}) is None


def test_no_rows():
    now = dt.datetime.now(UTC)
    rep = drift_report([], now - dt.timedelta(days=1), now)
    assert rep["series"] == [] and rep["alerts"] == [] and rep["reference"] == {}
