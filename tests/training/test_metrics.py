import numpy as np
import pytest

from kasuhara.training.metrics import comparison_table, evaluate_predictions, expected_calibration_error, prf

LABELS = ["insult", "threat", "demand_apology"]
CONDUCT = ["insult", "threat"]
DEMAND = ["demand_apology"]


def test_prf():
    assert prf(8, 2, 2) == pytest.approx((0.8, 0.8, 0.8))
    assert prf(0, 0, 0) == (0.0, 0.0, 0.0)


def test_ece_is_zero_when_calibrated_and_large_when_not():
    assert expected_calibration_error(np.array([0.0, 1.0]), np.array([0, 1])) == 0.0
    assert expected_calibration_error(np.array([0.9] * 10), np.array([0] * 10)) == pytest.approx(0.9)


def test_evaluate_predictions_counts():
    y_true = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 1, 1]])
    y_pred = np.array([[1, 0, 0], [1, 0, 1], [0, 0, 0], [0, 0, 1]])
    m = evaluate_predictions(LABELS, CONDUCT, DEMAND, y_true, y_pred, np.array([0.9, 0.6, 0.1, 0.2]),
                             np.array([False, True, False, False]))
    assert m["harassment"]["support"] == 2
    assert m["harassment"]["precision"] == pytest.approx(0.5)  # row 1 is a false alarm
    assert m["harassment"]["recall"] == pytest.approx(0.5)  # row 3 missed
    assert m["fpr_non_harassment"] == pytest.approx(0.5)
    assert m["fpr_hard_negative"] == pytest.approx(1.0)
    assert m["per_label"]["demand_apology"]["f1"] == pytest.approx(1.0)
    table = comparison_table({"a": m, "b": m}, LABELS)
    assert "harassment F1" in table and "demand_apology" in table
