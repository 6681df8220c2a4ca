"""The screening engine: ``Engine.score(message, history) -> Result``, the one entry point.

It analyses the message once (mail structure, normalisation, tokens), runs the shipped
Pipeline for calibrated per-label probabilities, applies per-label thresholds, adds
persistence from the customer's history, finds evidence spans in the ORIGINAL text (rule hits
first, then the sentence the model scores highest) and maps the result to a level and the
recommended actions of the response policy.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from ..nlp.analysis import analyze
from ..nlp.deep import DeepAnalyzer
from ..nlp.tokens import Tokenizer
from ..nlp.types import Analysis, MappedText, Sentence, Token
from . import artifact
from .decision import passing as decide
from .messages import Message
from .persistence import HistoryItem, HistorySummary, summarize
from .policy import LEVELS, ResponsePolicy, load_policy
from .recognizers import Recognizer, default_recognizers, find
from .taxonomy import Taxonomy, load_taxonomy

MAX_EVIDENCE_PER_LABEL = 3
CASCADE_BAND = (0.15, 1.0)  # GiNZA runs when the head is in this band or any label passes
NEGATABLE = ("violence", "threat", "dogeza", "restraint")  # announcements a negation cancels


@dataclass(frozen=True, slots=True)
class Evidence:
    label: str
    start: int
    end: int
    text: str
    score: float
    source: str  # rule | model | history
    explanation: str

    def as_dict(self) -> dict:
        return {"label": self.label, "start": self.start, "end": self.end, "text": self.text,
                "score": round(self.score, 4), "source": self.source, "explanation": self.explanation}


@dataclass(frozen=True)
class Result:
    id: str | None
    harassment: bool
    risk: float
    level: str
    labels: tuple[str, ...]
    scores: dict[str, float]
    evidence: tuple[Evidence, ...]
    actions: tuple[str, ...]
    model_version: str
    history: HistorySummary | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = {"id": self.id, "harassment": self.harassment, "risk": round(self.risk, 4),
             "level": self.level, "labels": list(self.labels),
             "scores": {k: round(v, 4) for k, v in self.scores.items()},
             "evidence": [e.as_dict() for e in self.evidence], "actions": list(self.actions),
             "model_version": self.model_version}
        if self.history is not None:
            d["history"] = self.history.as_dict()
        d.update(self.extra)
        return d


class Engine:
    """Load once (``Engine.load()``), then call ``score`` / ``score_batch`` from any thread."""

    def __init__(self, model: artifact.ScreeningModel, policy: ResponsePolicy,
                 taxonomy: Taxonomy, recognizers: tuple[Recognizer, ...], tokenizer: Tokenizer,
                 deep: DeepAnalyzer | None = None):
        if list(model.labels) != list(taxonomy.ids):
            raise artifact.ArtifactError(
                f"model labels {model.labels} do not match the taxonomy ids {list(taxonomy.ids)}")
        self.model = model
        self.policy = policy
        self.taxonomy = taxonomy
        self.recognizers = recognizers
        self.tokenizer = tokenizer
        self.deep = deep
        self.labels = list(model.labels)
        self.conduct = set(taxonomy.conduct_ids)
        self.demands = tuple(taxonomy.demand_ids)
        self._thr = np.array([model.thresholds[l] for l in self.labels])
        self._gate = model.thresholds.get(artifact.GATE, 0.0)
        self._conduct_mask = np.array([l in self.conduct for l in self.labels])

    @classmethod
    def load(cls, model_path=None, policy_path=None, cascade: bool = True) -> "Engine":
        """The engine around a saved model (default: the shipped one). ``cascade`` runs GiNZA
        on flagged or uncertain messages (loaded on first use)."""
        return cls.from_model(artifact.load(model_path), policy_path, cascade)

    @classmethod
    def from_model(cls, model: artifact.ScreeningModel, policy_path=None, cascade: bool = True) -> "Engine":
        tax = load_taxonomy()
        return cls(model, load_policy(policy_path, tax.ids), tax, default_recognizers(), Tokenizer(),
                   DeepAnalyzer() if cascade else None)

    @property
    def version(self) -> str:
        return self.model.version

    # -- analysis -------------------------------------------------------------------------
    def analyze(self, message: Message) -> Analysis:
        return analyze(message.text, self.tokenizer, message.subject)

    def probabilities(self, analyses: list[Analysis]) -> np.ndarray:
        """(n, 16) calibrated probabilities: the 15 ids in taxonomy order, then the head."""
        if not analyses:
            return np.zeros((0, len(self.labels) + 1))
        return self.model.predict_proba(analyses)

    # -- scoring --------------------------------------------------------------------------
    def score(self, message: Message, history: list[HistoryItem] | None = None,
              history_available: bool = True) -> Result:
        a = self.analyze(message)
        proba = self.probabilities([a])[0]
        return self._finish(message, a, proba, history, history_available)

    def score_batch(self, messages: list[Message],
                    history_state: dict[str, list[HistoryItem]] | None = None) -> list[Result]:
        """Score many messages; each customer's earlier messages (by received_at) in the batch,
        and in ``history_state`` carried over from earlier batches, are its history, exactly as
        the service's store would provide. ``history_state`` is updated in place."""
        analyses = [self.analyze(m) for m in messages]
        proba = self.probabilities(analyses)
        order = sorted(range(len(messages)), key=lambda i: (
            messages[i].received_at is None,
            messages[i].received_at or dt.datetime.min.replace(tzinfo=dt.timezone.utc), i))
        seen = history_state if history_state is not None else {}
        results: list[Result | None] = [None] * len(messages)
        for i in order:
            m = messages[i]
            hist = seen.setdefault(m.customer_id, []) if m.customer_id and m.received_at else None
            r = self._finish(m, analyses[i], proba[i], list(hist) if hist is not None else None, True)
            if hist is not None:
                hist.append(HistoryItem(m.received_at, r.labels, r.risk))
            results[i] = r
        return results  # type: ignore[return-value]

    def _finish(self, message: Message, a: Analysis, proba: np.ndarray,
                history: list[HistoryItem] | None, history_available: bool) -> Result:
        scores = {l: float(p) for l, p in zip(self.labels, proba[:-1])}
        head = float(proba[-1])
        summary = None
        hist_note = ""
        if message.customer_id is not None:
            if history is None and not history_available:
                from .persistence import UNAVAILABLE
                summary = UNAVAILABLE
            else:
                now = message.received_at or dt.datetime.now(dt.timezone.utc)
                prelim = [l for l in self.labels if scores[l] >= self._thr[self.labels.index(l)]]
                summary = summarize(history or [], now, prelim, head)
                engaged = head >= 0.3 or any(l in self.demands or l in self.conduct for l in prelim)
                if summary.persistence > scores["persistence"] and engaged:
                    scores["persistence"] = summary.persistence
                    hist_note = (f"過去24時間に{summary.messages_24h}件、7日間に{summary.messages_7d}件の問い合わせ"
                                 + ("、同じ要求の繰り返し" if summary.repeated_demand else ""))

        extra: dict = {"demands": [], "targets": []}  # filled when the GiNZA cascade runs
        passing = self._passing(scores, head)
        if self.deep is not None and a.view.text.strip() and (
                passing or CASCADE_BAND[0] <= head <= CASCADE_BAND[1]):
            deep = self.deep(a.view.text)
            extra = self._deep_fields(a, deep)
            for l in NEGATABLE:
                if l in passing and self._only_negated(a, l, list(deep.negated)):
                    scores[l] *= 0.5
            passing = self._passing(scores, head)

        evidence = self._evidence(a, passing, scores, hist_note)
        labels = tuple(l for l in self.labels if l in passing and any(e.label == l for e in evidence))
        harassment = any(l in self.conduct for l in labels)
        conduct_scores = [scores[l] for l in labels if l in self.conduct]
        risk = max([head] + conduct_scores) if harassment else min(head, 0.49)
        level = self._level(harassment, risk, labels)
        persistence = summary.persistence if summary is not None else 0.0
        actions = self.policy.actions(labels, harassment, level, persistence, self.demands)
        return Result(message.id, harassment, risk, level, labels, scores, tuple(evidence),
                      tuple(actions), self.version, summary, extra)

    def _only_negated(self, a: Analysis, label: str, negated: list[tuple[int, int]]) -> bool:
        """All rule hits of ``label`` sit inside predicates the parse marks as negated
        (殺すつもりはない, 晒すことはしません)."""
        hits = [h for h in find(a, self.recognizers) if h.label == label]
        return bool(hits) and all(any(s <= h.start < e + 2 for s, e in negated) for h in hits)

    def _deep_fields(self, a: Analysis, deep) -> dict:
        demands = []
        for d in deep.demands:
            if d.negated or d.end <= d.start:
                continue
            s, e = a.original_span(d.start, d.end)
            demands.append({"what": d.what, "of": d.of, "kind": d.kind, "amount": d.amount,
                            "start": s, "end": e, "text": a.original[s:e]})
        targets = []
        for ent in deep.entities:
            if ent.label in ("Person", "Position") and ent.end > ent.start:
                s, e = a.original_span(ent.start, ent.end)
                targets.append({"text": a.original[s:e], "kind": ent.label.lower(), "start": s, "end": e})
        return {"demands": demands, "targets": targets}

    def _passing(self, scores: dict, head: float) -> list[str]:
        row = np.array([[scores[l] for l in self.labels] + [head]])
        mask = decide(row, self._thr, self._conduct_mask, self._gate)[0]
        return [l for l, ok in zip(self.labels, mask) if ok]

    def _level(self, harassment: bool, risk: float, labels) -> str:
        if not harassment:
            return "low" if risk >= 0.25 else "none"
        sev = [self.taxonomy.get(l).severity for l in labels if l in self.conduct]
        if "critical" in sev and risk >= 0.8 or (risk >= 0.9 and len(sev) >= 3):
            return "critical"
        if "critical" in sev or ("high" in sev and risk >= 0.6) or risk >= 0.85:
            return "high"
        return "medium"

    # -- evidence -------------------------------------------------------------------------
    def _evidence(self, a: Analysis, labels, scores, hist_note: str) -> list[Evidence]:
        if not labels or not a.view.text.strip():
            return []
        out: list[Evidence] = []
        hits = find(a, self.recognizers)
        need_model = []
        for l in labels:
            mine = [h for h in hits if h.label == l][:MAX_EVIDENCE_PER_LABEL]
            for h in mine:
                s, e = a.original_span(h.start, h.end)
                if e > s:
                    out.append(Evidence(l, s, e, a.original[s:e], scores[l], "rule", h.explanation))
            if not mine:
                need_model.append(l)
        if need_model and a.sentences:
            subs = [_sentence_analysis(a, s) for s in a.sentences]
            sp = self.probabilities(subs)
            for l in need_model:
                k = self.labels.index(l)
                best = int(np.argmax(sp[:, k]))
                sent = a.sentences[best]
                s, e = a.original_span(sent.start, sent.end)
                if e <= s:
                    continue
                if l == "persistence" and hist_note:
                    src, expl = "history", hist_note
                else:
                    src = "model"
                    expl = f"{self.taxonomy.get(l).ja}: この文のモデル確率 {sp[best, k]:.2f}"
                out.append(Evidence(l, s, e, a.original[s:e], float(sp[best, k]), src, expl))
        return out

    def level_order(self, level: str) -> int:
        return LEVELS.index(level)


def _sentence_analysis(a: Analysis, s: Sentence) -> Analysis:
    """An Analysis of one sentence of ``a`` (offsets shifted to the sentence), for scoring."""
    view = MappedText(a.view.text[s.start:s.end], a.view.starts[s.start:s.end], a.view.ends[s.start:s.end])
    toks = tuple(Token(t.surface, t.lemma, t.pos, t.pos2, t.cform, t.start - s.start, t.end - s.start)
                 for t in a.tokens if t.start >= s.start and t.end <= s.end)
    return Analysis(a.original, (), view, a.folded[s.start:s.end], toks,
                    (Sentence(0, s.end - s.start, view.text),))
