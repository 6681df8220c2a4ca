"""Which messages to label next: agent feedback that disagrees with the model, scores close
to a decision threshold, and a stratified sample by level (so that the quiet majority is not
forgotten). Pure functions over scored items."""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..models.policy import LEVELS

REASONS = ("disagreement", "uncertain", "stratified")


@dataclass(frozen=True)
class Candidate:
    item: dict  # {"id", "text", "subject"?}
    result: dict  # the engine's result (labels, scores, level, risk, model_version)
    feedback: tuple[str, ...] | None = None  # an agent's labels, when there are


def margin(scores: dict[str, float], thresholds: dict[str, float]) -> float:
    """How close the message is to a decision: the smallest |score - threshold| over labels."""
    return min(abs(scores[l] - thresholds[l]) for l in scores if l in thresholds)


def disagreement(c: Candidate) -> int:
    """Labels the agent and the model do not share (0 without feedback)."""
    if c.feedback is None:
        return 0
    return len(set(c.feedback) ^ set(c.result["labels"]))


def select(candidates: list[Candidate], thresholds: dict[str, float], limit: int,
           uncertain_share: float = 0.5, seed: int = 0) -> list[tuple[Candidate, str]]:
    """Up to ``limit`` candidates with the reason each was chosen: every disagreement first (the
    largest first), then the most uncertain up to ``uncertain_share`` of what is left of the
    budget, then an equal, seeded random sample from each level for the rest."""
    chosen: list[tuple[Candidate, str]] = []
    taken: set[int] = set()

    def take(idx: list[int], reason: str, n: int) -> None:
        for i in idx[:max(n, 0)]:
            chosen.append((candidates[i], reason))
            taken.add(i)

    dis = sorted((i for i, c in enumerate(candidates) if disagreement(c) > 0),
                 key=lambda i: -disagreement(candidates[i]))
    take(dis, "disagreement", limit)
    rest = [i for i in range(len(candidates)) if i not in taken]
    rest.sort(key=lambda i: margin(candidates[i].result["scores"], thresholds))
    # the share is of what can still be chosen: with fewer messages than the budget, "uncertain"
    # must not swallow them all (the reason is what the analyst reads)
    take(rest, "uncertain", round((min(limit, len(candidates)) - len(chosen)) * uncertain_share))
    rng = random.Random(seed)
    by_level: dict[str, list[int]] = {lv: [] for lv in LEVELS}
    for i, c in enumerate(candidates):
        if i not in taken:
            by_level.setdefault(c.result["level"], []).append(i)
    for idx in by_level.values():
        rng.shuffle(idx)
    # round-robin over the levels: equal shares, a level with too few gives its share away
    while len(chosen) < limit and any(by_level.values()):
        for lv in list(by_level):
            if by_level[lv] and len(chosen) < limit:
                take([by_level[lv].pop()], "stratified", 1)
    return chosen
