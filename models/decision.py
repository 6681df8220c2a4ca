"""The decision rule from calibrated probabilities to labels, shared by the engine (at run
time) and by training (when it chooses the gate), so both apply exactly the same rule."""
from __future__ import annotations

import numpy as np

HIGH_CONFIDENCE = 0.9  # a conduct label this sure passes even when the binary head is below the gate


def passing(P: np.ndarray, thresholds: np.ndarray, conduct: np.ndarray, gate: float) -> np.ndarray:
    """(n, k) booleans: label j passes when P[:, j] >= thresholds[j]; a conduct label also needs
    the binary head (last column of P) at or above ``gate``, unless it is itself very sure.

    ``P`` is (n, k + 1) with the head last; ``conduct`` is a (k,) boolean mask."""
    P = np.atleast_2d(P)
    labels = P[:, :-1]
    head = P[:, -1:]
    ok = labels >= thresholds
    vetoed = conduct & (head < gate) & (labels < HIGH_CONFIDENCE)
    return ok & ~vetoed
