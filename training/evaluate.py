"""`kasuhara evaluate`: the model and the two baselines on the same labelled data."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..models.engine import Engine
from ..models.messages import Message, parse_time
from ..models.taxonomy import load_taxonomy
from .baselines import LexiconBaseline, TfidfBaseline
from .corpus import load_split, read_jsonl
from .metrics import comparison_table, evaluate_predictions
from .train import label_matrix


def to_messages(records: list[dict], with_history: bool = False) -> list[Message]:
    out = []
    for r in records:
        hist = with_history and r.get("customer_id") and r.get("received_at")
        out.append(Message(text=r["text"], id=r.get("id"), subject=r.get("subject"),
                           customer_id=r["customer_id"] if hist else None,
                           received_at=parse_time(r["received_at"]) if hist else None,
                           channel=r.get("channel")))
    return out


def _metrics(records, y_pred, risk) -> dict:
    tax = load_taxonomy()
    labels = list(tax.ids)
    Y = label_matrix(records, labels, set(tax.conduct_ids))[:, :-1]
    hn = np.array([bool(r.get("hard_negative")) for r in records])
    return evaluate_predictions(labels, list(tax.conduct_ids), list(tax.demand_ids), Y, y_pred, risk, hn)


def evaluate_engine(engine: Engine, records: list[dict], with_history: bool = False,
                    batch: int = 256) -> dict:
    labels = engine.labels
    y_pred = np.zeros((len(records), len(labels)), dtype=int)
    risk = np.zeros(len(records))
    msgs = to_messages(records, with_history)
    results = []
    if with_history:
        results = engine.score_batch(msgs)
    else:
        for k in range(0, len(msgs), batch):
            results.extend(engine.score_batch(msgs[k:k + batch]))
    for i, r in enumerate(results):
        for l in r.labels:
            y_pred[i, labels.index(l)] = 1
        risk[i] = r.risk
    return _metrics(records, y_pred, risk)


def evaluate_baselines(train_records: list[dict], records: list[dict]) -> dict[str, dict]:
    tax = load_taxonomy()
    labels, conduct = list(tax.ids), list(tax.conduct_ids)
    Ytr = label_matrix(train_records, labels, set(conduct))[:, :-1]
    texts = [r["text"] for r in records]
    out = {}
    for name, model in (("lexicon baseline", LexiconBaseline(labels, conduct)),
                        ("tfidf+LR baseline", TfidfBaseline(labels, conduct))):
        model.fit([r["text"] for r in train_records], Ytr)
        y_pred, risk = model.predict(texts)
        out[name] = _metrics(records, y_pred, risk)
    return out


def load_data(spec: str) -> list[dict]:
    """A split name of the shipped corpus (train/dev/test) or a JSON Lines path."""
    if spec in ("train", "dev", "test"):
        return load_split(spec)
    return read_jsonl(Path(spec))


def run(data: str, model: str | None = None, train: str = "train", baselines: bool = True,
        with_history: bool = False, engine: Engine | None = None) -> dict:
    records = load_data(data)
    engine = engine or Engine.load(model)
    systems = {f"model {engine.version}": evaluate_engine(engine, records, with_history)}
    if baselines:
        systems.update(evaluate_baselines(load_data(train), records))
    labels = list(load_taxonomy().ids)
    return {"data": data, "systems": systems, "table": comparison_table(systems, labels)}


def write_report(report: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", "utf-8")
