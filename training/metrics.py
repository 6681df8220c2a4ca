"""Evaluation metrics for the screening task (pure functions over arrays)."""
from __future__ import annotations

import numpy as np


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def expected_calibration_error(prob: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    prob = np.asarray(prob, dtype=float)
    truth = np.asarray(truth, dtype=float)
    if len(prob) == 0:
        return 0.0
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(prob, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(prob[m].mean() - truth[m].mean())
    return float(ece)


def evaluate_predictions(labels: list[str], conduct: list[str], demand: list[str],
                         y_true: np.ndarray, y_pred: np.ndarray, risk: np.ndarray,
                         hard_negative: np.ndarray) -> dict:
    """Per-label P/R/F1, binary harassment F1, false-positive rates, calibration error.

    ``y_true`` / ``y_pred``: (n, len(labels)) 0/1; harassment is "any conduct label" on both
    sides; ``risk``: predicted harassment probability; ``hard_negative``: bool per message."""
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    ci = [labels.index(l) for l in conduct]
    per_label = {}
    for k, l in enumerate(labels):
        t, p = y_true[:, k], y_pred[:, k]
        tp, fp, fn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum())
        pr, rc, f1 = prf(tp, fp, fn)
        per_label[l] = {"precision": pr, "recall": rc, "f1": f1, "support": int(t.sum())}
    h_true = y_true[:, ci].any(axis=1)
    h_pred = y_pred[:, ci].any(axis=1)
    tp, fp, fn = int((h_true & h_pred).sum()), int((~h_true & h_pred).sum()), int((h_true & ~h_pred).sum())
    pr, rc, f1 = prf(tp, fp, fn)
    neg = ~h_true
    hn = np.asarray(hard_negative, dtype=bool) & neg

    def macro(ids):
        vals = [per_label[l]["f1"] for l in ids if per_label[l]["support"] > 0]
        return float(np.mean(vals)) if vals else 0.0

    return {
        "n": int(len(y_true)),
        "harassment": {"precision": pr, "recall": rc, "f1": f1, "support": int(h_true.sum())},
        "fpr_non_harassment": float(h_pred[neg].mean()) if neg.any() else 0.0,
        "n_non_harassment": int(neg.sum()),
        "fpr_hard_negative": float(h_pred[hn].mean()) if hn.any() else 0.0,
        "n_hard_negative": int(hn.sum()),
        "ece_risk": expected_calibration_error(risk, h_true),
        "conduct_macro_f1": macro(conduct),
        "demand_macro_f1": macro(demand),
        "per_label": per_label,
    }


def comparison_table(results: dict[str, dict], labels: list[str]) -> str:
    """A readable side-by-side table: one column per system."""
    names = list(results)
    w = max(22, *(len(n) + 2 for n in names))
    head = f"{'metric':<24}" + "".join(f"{n:>{w}}" for n in names)
    rows = [head, "-" * len(head)]

    def row(title, fn, fmt="{:.3f}"):
        rows.append(f"{title:<24}" + "".join(f"{fmt.format(fn(results[n])):>{w}}" for n in names))

    row("harassment F1", lambda r: r["harassment"]["f1"])
    row("harassment precision", lambda r: r["harassment"]["precision"])
    row("harassment recall", lambda r: r["harassment"]["recall"])
    row("FPR non-harassment", lambda r: r["fpr_non_harassment"])
    row("FPR hard negatives", lambda r: r["fpr_hard_negative"])
    row("ECE (risk)", lambda r: r["ece_risk"])
    row("conduct macro-F1", lambda r: r["conduct_macro_f1"])
    row("demand macro-F1", lambda r: r["demand_macro_f1"])
    rows.append("per-label F1 (support)")
    for l in labels:
        sup = results[names[0]]["per_label"][l]["support"]
        row(f"  {l} ({sup})", lambda r, l=l: r["per_label"][l]["f1"])
    first = results[names[0]]
    rows.append(f"n={first['n']}, harassment={first['harassment']['support']}, "
                f"non-harassment={first['n_non_harassment']}, hard negatives={first['n_hard_negative']}")
    return "\n".join(rows)
