"""Calibrated multi-label logistic regression: one head per taxonomy id plus a binary
``harassment`` head, each calibrated with Platt scaling on out-of-fold decision values."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class CalibratedMultiLabel(BaseEstimator, ClassifierMixin):
    """``fit(X, Y)`` with Y an (n, k) 0/1 matrix; ``predict_proba(X)`` gives (n, k)
    calibrated probabilities. Coefficients are kept as float32 to keep the artifact small."""

    def __init__(self, C: float | tuple = 4.0, cv: int = 5, class_weight: str | None = "balanced",
                 max_iter: int = 3000, random_state: int = 0, n_jobs: int = 1):
        self.n_jobs = n_jobs
        self.C = C
        self.cv = cv
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.random_state = random_state

    def _lr(self, C: float):
        return LogisticRegression(C=C, solver="liblinear", class_weight=self.class_weight,
                                  max_iter=self.max_iter, random_state=self.random_state)

    def fit(self, X, Y, progress=None):
        Y = np.asarray(Y)
        if Y.ndim != 2:
            raise ValueError("Y must be an (n_samples, n_labels) 0/1 matrix")
        n, k = Y.shape
        for j in range(k):
            pos = int(Y[:, j].sum())
            if pos < self.cv or n - pos < self.cv:
                raise ValueError(f"label column {j}: {pos} positives, need at least {self.cv}")
        from joblib import Parallel, delayed

        if hasattr(X, "sort_indices"):
            X = X.tocsr()
            X.sort_indices()  # workers get a read-only copy; liblinear must not need to sort it

        heads = []
        for start in range(0, k, max(self.n_jobs, 1)):
            cols = range(start, min(start + max(self.n_jobs, 1), k))
            heads.extend(Parallel(n_jobs=self.n_jobs, max_nbytes=None)(delayed(self._fit_head)(X, Y[:, j].astype(int)) for j in cols))
            if progress is not None:
                progress(len(heads), k)
        coef = [h[0] for h in heads]
        intercept = [h[1] for h in heads]
        platt = [h[2] for h in heads]
        oof = np.column_stack([h[3] for h in heads])
        self.C_ = np.asarray([h[4] for h in heads], dtype=float)
        self.coef_ = np.vstack(coef)
        self.intercept_ = np.asarray(intercept)
        self.platt_ = np.asarray(platt)
        self.oof_proba_ = oof  # out-of-fold calibrated probabilities on the training data
        self.n_labels_ = k
        return self

    def _fit_head(self, X, y):
        """Out-of-fold decisions for each candidate C; the C with the best out-of-fold average
        precision wins, its out-of-fold decisions fit the Platt calibration, then it is refit
        on all data."""
        from sklearn.metrics import average_precision_score

        n = len(y)
        folds = list(StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state).split(np.zeros(n), y))
        best = None
        for C in (self.C if isinstance(self.C, (tuple, list)) else (self.C,)):
            dec = np.zeros(n)
            for tr, te in folds:
                dec[te] = self._lr(C).fit(X[tr], y[tr]).decision_function(X[te])
            ap = average_precision_score(y, dec)
            if best is None or ap > best[0]:
                best = (ap, C, dec)
        _, C, dec = best
        cal = LogisticRegression(C=1e4, max_iter=1000).fit(dec[:, None], y)
        a, b = float(cal.coef_[0, 0]), float(cal.intercept_[0])
        final = self._lr(C).fit(X, y)
        return final.coef_[0].astype(np.float32), float(final.intercept_[0]), (a, b), _sigmoid(a * dec + b), C

    def _weights(self) -> np.ndarray:
        W = self.__dict__.get("_coef_t")
        if W is None:  # a contiguous float64 (n_features, k) copy: else sparse @ W copies W every call
            W = self._coef_t = np.ascontiguousarray(self.coef_.T, dtype=np.float64)
        return W

    def decision_function(self, X):
        return np.asarray(X @ self._weights(), dtype=np.float64) + self.intercept_

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_coef_t", None)
        return state

    def calibrate(self, decision: np.ndarray) -> np.ndarray:
        """Decision values -> calibrated probabilities (each head's Platt scaling)."""
        return _sigmoid(decision * self.platt_[:, 0] + self.platt_[:, 1])

    def predict_proba(self, X):
        return self.calibrate(self.decision_function(X))

    def predict(self, X):
        return (self.predict_proba(X) >= 0.5).astype(int)
