"""Drift: label rates and score distributions per day, against a reference, with alerts.

Pure functions over stored rows ``{"received_at": aware datetime, "labels": [ids],
"scores": {id: p}, "harassment": bool, "risk": float}``. The reference is either the first
window of the series or given rates (e.g. the label rates of the model card's test data).
"""
from __future__ import annotations

import datetime as dt

import numpy as np

from .taxonomy import Taxonomy, load_taxonomy

JST = dt.timezone(dt.timedelta(hours=9))
QUANTILES = (0.5, 0.9, 0.99)
HARASSMENT = "harassment"


def day_start(t: dt.datetime, tz: dt.tzinfo = JST) -> dt.datetime:
    local = t.astimezone(tz)
    return dt.datetime(local.year, local.month, local.day, tzinfo=tz)


def bucket_stats(rows: list[dict], ids: tuple[str, ...]) -> dict:
    """Counts and rates of one bucket."""
    n = len(rows)
    risk = np.array([float(r["risk"]) for r in rows]) if n else np.zeros(0)
    return {
        "messages": n,
        "harassment_rate": sum(bool(r["harassment"]) for r in rows) / n if n else 0.0,
        "label_rates": {l: (sum(l in r["labels"] for r in rows) / n if n else 0.0) for l in ids},
        "score_means": {l: (float(np.mean([float(r["scores"].get(l, 0.0)) for r in rows])) if n else 0.0)
                        for l in ids},
        "risk_quantiles": {f"p{round(q * 100)}": (float(np.quantile(risk, q)) if n else 0.0) for q in QUANTILES},
    }


def series(rows: list[dict], ids: tuple[str, ...], tz: dt.tzinfo = JST) -> list[dict]:
    """One entry per day that has messages, oldest first, ``start`` as ISO-8601 in ``tz``."""
    days: dict[dt.datetime, list[dict]] = {}
    for r in rows:
        days.setdefault(day_start(r["received_at"], tz), []).append(r)
    return [{"start": d.isoformat(), **bucket_stats(days[d], ids)} for d in sorted(days)]


def card_reference(card: dict, split: str = "test") -> dict | None:
    """Label rates of the data a model card reports metrics on (its true labels), or None."""
    systems = (card.get("metrics", {}).get(split) or {}).get("systems") or {}
    m = next((v for k, v in systems.items() if k.startswith("model")), None)
    if not m or not m.get("n"):
        return None
    n = m["n"]
    return {"source": f"model card {card.get('version', '?')}: {split} data", "messages": n,
            "harassment_rate": m["harassment"]["support"] / n,
            "label_rates": {l: v["support"] / n for l, v in m["per_label"].items()}}


def alerts(buckets: list[dict], reference: dict, tax: Taxonomy | None = None, threshold: float = 0.1,
           min_messages: int = 20) -> list[dict]:
    """One alert per label (and for the harassment rate) whose rate in the most recent bucket
    with at least ``min_messages`` differs from the reference by more than ``threshold``
    (absolute). Messages in Japanese."""
    tax = tax or load_taxonomy()
    recent = next((b for b in reversed(buckets) if b["messages"] >= min_messages), None)
    if recent is None or not reference:
        return []
    checks = [(HARASSMENT, "カスハラ判定", recent["harassment_rate"], reference["harassment_rate"])]
    checks += [(l, tax.get(l).ja, recent["label_rates"].get(l, 0.0), reference["label_rates"].get(l, 0.0))
               for l in tax.ids]
    out = []
    day = recent["start"][:10]
    for label, ja, now, ref in checks:
        if abs(now - ref) > threshold:
            verb = "上昇" if now > ref else "低下"
            out.append({"label": label, "rate": now, "reference": ref, "start": recent["start"],
                        "message": f"{ja}の割合が基準 {ref:.1%} から {now:.1%} に{verb}しました"
                                   f"（{day}、{recent['messages']}件）"})
    return out


def drift_report(rows: list[dict], since: dt.datetime, until: dt.datetime, reference: dict | None = None,
                 threshold: float = 0.1, min_messages: int = 20, tz: dt.tzinfo = JST,
                 tax: Taxonomy | None = None) -> dict:
    """The drift document (as GET /v1/drift answers): the daily series, the reference (given,
    else the first day of the series) and the alerts."""
    tax = tax or load_taxonomy()
    s = series(rows, tax.ids, tz)
    if reference is None and s:
        first = s[0]
        reference = {"source": f"first day {first['start'][:10]}", "messages": first["messages"],
                     "harassment_rate": first["harassment_rate"], "label_rates": first["label_rates"]}
        compared = s[1:]
    else:
        compared = s
    return {"bucket": "day", "since": since.isoformat(), "until": until.isoformat(), "series": s,
            "reference": reference or {}, "alerts": alerts(compared, reference or {}, tax, threshold, min_messages)}
