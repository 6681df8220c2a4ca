"""Persistence from a customer's earlier messages: a pure function the CLI and service share."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One earlier message of the same customer, as the store or the batch remembers it."""

    received_at: dt.datetime
    labels: tuple[str, ...] = ()
    risk: float = 0.0


@dataclass(frozen=True, slots=True)
class HistorySummary:
    messages_24h: int
    messages_7d: int
    persistence: float  # 0..1
    repeated_demand: bool
    escalation: bool
    available: bool = True

    def as_dict(self) -> dict:
        d = {"messages_24h": self.messages_24h, "messages_7d": self.messages_7d,
             "persistence": round(self.persistence, 4)}
        if not self.available:
            d["available"] = False
        return d


UNAVAILABLE = HistorySummary(0, 0, 0.0, False, False, available=False)


def summarize(history, now: dt.datetime, current_labels=(), current_risk: float = 0.0,
              demand_ids=("demand_exchange", "demand_compensation", "demand_apology")) -> HistorySummary:
    """Counts of earlier messages (24 h / 7 d before ``now``, the current one excluded) and a
    0..1 persistence score that grows with frequency, with the same demand repeated, and with
    escalation (risk rising across the thread)."""
    earlier = sorted((h for h in history if h.received_at <= now), key=lambda h: h.received_at)
    day = [h for h in earlier if now - h.received_at <= dt.timedelta(hours=24)]
    week = [h for h in earlier if now - h.received_at <= dt.timedelta(days=7)]
    demands_now = {l for l in current_labels if l in demand_ids}
    repeated = bool(demands_now) and sum(1 for h in week if demands_now & set(h.labels)) >= 2
    risks = [h.risk for h in week] + [current_risk]
    escalation = len(risks) >= 3 and risks[-1] > max(risks[:-1]) and risks[-1] - risks[0] >= 0.3
    load = 0.55 * max(0, len(day) - 1) + 0.2 * max(0, len(week) - 2) + (0.8 if repeated else 0.0) \
        + (0.4 if escalation else 0.0)
    score = 1.0 - math.exp(-load / 2.0)
    return HistorySummary(len(day), len(week), score, repeated, escalation)
