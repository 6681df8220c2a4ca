"""Choosing what to label next: disagreements, then uncertain scores, then a sample per level."""
import pytest

from kasuhara.training.selection import Candidate, margin, select

THR = {"threat": 0.5, "insult": 0.4}


def cand(i, threat, level="none", labels=(), feedback=None):
    return Candidate({"id": f"m{i}", "text": f"t{i}"},
                     {"scores": {"threat": threat}, "labels": list(labels), "level": level,
                      "risk": threat}, feedback)


@pytest.mark.parametrize("scores, expected", [
    ({"threat": 0.5, "insult": 0.0}, 0.0),
    ({"threat": 0.9, "insult": 0.35}, 0.05),
    ({"threat": 0.0, "insult": 1.0}, 0.5),
])
def test_margin_is_the_closest_threshold(scores, expected):
    assert margin(scores, THR) == pytest.approx(expected)


def test_disagreements_first_then_uncertain_then_levels():
    pool = [cand(0, 0.99, level="critical", labels=["threat"]),
            cand(1, 0.52, level="medium", labels=["threat"]),  # uncertain
            cand(2, 0.01, level="none"),
            cand(3, 0.02, level="none", feedback=("insult", "threat")),  # agent disagrees on 2 labels
            cand(4, 0.97, level="critical", labels=["threat"], feedback=("threat",)),  # agent agrees
            cand(5, 0.03, level="none", feedback=("insult",)),  # disagrees on 1
            cand(6, 0.98, level="high", labels=["threat"])]
    chosen = select(pool, THR, limit=6, seed=1)
    ids = [c.item["id"] for c, _ in chosen]
    reasons = [r for _, r in chosen]
    assert ids[:2] == ["m3", "m5"] and reasons[:2] == ["disagreement"] * 2
    assert ids[2:4] == ["m1", "m4"]  # the closest to a threshold next (margins 0.02, 0.47)
    assert reasons.count("uncertain") == 2 and reasons.count("stratified") == 2
    assert len(set(ids)) == 6


def test_stratified_sample_spreads_over_levels_and_is_seeded():
    pool = [cand(i, 0.0, level="none") for i in range(50)] + [cand(100 + i, 0.99, level="high") for i in range(5)]
    a = select(pool, THR, limit=10, uncertain_share=0.0, seed=3)
    b = select(pool, THR, limit=10, uncertain_share=0.0, seed=3)
    assert [c.item["id"] for c, _ in a] == [c.item["id"] for c, _ in b]
    levels = [c.result["level"] for c, _ in a]
    assert levels.count("high") == 5 and levels.count("none") == 5  # not 10 of the majority
    assert len(select(pool, THR, limit=200)) == len(pool)


def test_a_pool_smaller_than_the_budget_is_not_all_called_uncertain():
    pool = [cand(i, 0.01 * i, level="none") for i in range(6)] + [cand(10 + i, 0.99, level="high") for i in range(6)]
    reasons = [r for _, r in select(pool, THR, limit=200)]
    assert len(reasons) == 12 and reasons.count("uncertain") == 6 and reasons.count("stratified") == 6
