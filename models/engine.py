"""The screening engine: ``Engine.score(message, history) -> Result``, the one entry point.

It analyses the message once (mail structure, normalisation, tokens), runs the shipped
Pipeline for calibrated per-label probabilities, applies per-label thresholds, adds
persistence from the customer's history, finds evidence spans in the ORIGINAL text (rule hits
first, then the sentence the model scores highest) and maps the result to a level and the
recommended actions of the response policy.
"""
from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from ..nlp.analysis import analyze
from ..nlp.deep import DeepAnalyzer
from ..nlp.tokens import Tokenizer
from ..nlp.types import Analysis, MappedText, Sentence
from . import artifact
from .decision import passing as decide
from .messages import Message
from .persistence import UNAVAILABLE, HistoryItem, HistorySummary, summarize
from .policy import LEVELS, ResponsePolicy, load_policy
from .recognizers import Recognizer, default_recognizers, find
from .taxonomy import Taxonomy, load_taxonomy

MAX_EVIDENCE_PER_LABEL = 3
CASCADE_BAND = (0.15, 1.0)  # GiNZA runs when the head is in this band or any label passes
COUNTER_FACTOR = 0.5  # a label contradicted by a look-alike rule (or negated in the parse) keeps this share
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


@dataclass(frozen=True)
class _Decision:
    message: Message
    analysis: Analysis
    scores: dict[str, float]
    labels: tuple[str, ...]
    harassment: bool
    risk: float
    level: str
    actions: tuple[str, ...]
    summary: HistorySummary | None
    hist_note: str
    extra: dict


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
    def load(cls, model_path=None, policy_path=None, cascade: bool = False) -> "Engine":
        """The engine around a saved model (default: the shipped one). ``cascade`` runs GiNZA
        (~50 ms a message, loaded on first use) on flagged or uncertain messages to add the
        demands and targets found; it is off by default because it changes no label measurably
        (README, "What the GiNZA cascade adds") and costs most of a batch's time."""
        return cls.from_model(artifact.load(model_path), policy_path, cascade)

    @classmethod
    def from_model(cls, model: artifact.ScreeningModel, policy_path=None, cascade: bool = False) -> "Engine":
        tax = load_taxonomy()
        engine = cls(model, load_policy(policy_path, tax.ids), tax, default_recognizers(), Tokenizer(),
                     DeepAnalyzer() if cascade else None)
        engine.warm_up()
        return engine

    def warm_up(self) -> None:
        """Load everything the first message would (word vectors, lexicons, GiNZA if on), so
        that the first real request is as fast as the rest."""
        self.score(Message(text="ふざけるな、返金しろ。"))

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
        """Score one message. ``history``: the customer's earlier messages (None: none known);
        ``history_available=False`` when the store could not be asked (reported as such)."""
        a = self.analyze(message)
        proba = self.probabilities([a])
        return self._results([self._decide(message, a, proba[0], history, history_available)])[0]

    def score_batch(self, messages: list[Message],
                    history_state: dict[str, list[HistoryItem]] | None = None,
                    history_available: bool = True) -> list[Result]:
        """Score many messages; each customer's earlier messages (by received_at) in the batch,
        and in ``history_state`` carried over from earlier batches (or read from the store), are
        its history. ``history_state`` is updated in place. ``history_available=False``: the
        store could not be asked; customers' results say their history is unavailable."""
        analyses = [self.analyze(m) for m in messages]
        proba = self.probabilities(analyses)
        order = sorted(range(len(messages)), key=lambda i: (
            messages[i].received_at is None,
            messages[i].received_at or dt.datetime.min.replace(tzinfo=dt.timezone.utc), i))
        seen = history_state if history_state is not None else {}
        decisions: list[_Decision | None] = [None] * len(messages)
        for i in order:
            m = messages[i]
            hist = seen.setdefault(m.customer_id, []) if m.customer_id and m.received_at and history_available \
                else None
            d = self._decide(m, analyses[i], proba[i], list(hist) if hist is not None else None, history_available)
            if hist is not None:
                hist.append(HistoryItem(m.received_at, d.labels, d.risk))
            decisions[i] = d
        return self._results(decisions)  # type: ignore[arg-type]

    def _decide(self, message: Message, a: Analysis, proba: np.ndarray,
                history: list[HistoryItem] | None, history_available: bool) -> "_Decision":
        scores = {l: float(p) for l, p in zip(self.labels, proba[:-1])}
        head = float(proba[-1])
        summary = None
        hist_note = ""
        if message.customer_id is not None:
            if history is None and not history_available:
                summary = UNAVAILABLE
            else:
                now = message.received_at or dt.datetime.now(dt.timezone.utc)
                prelim = self._passing(scores, head)
                summary = summarize(history or [], now, prelim, head)
                engaged = head >= 0.3 or bool(prelim)
                if summary.persistence > scores["persistence"] and engaged:
                    scores["persistence"] = summary.persistence
                    hist_note = (f"過去24時間に{summary.messages_24h}件、7日間に{summary.messages_7d}件の問い合わせ"
                                 + ("、同じ要求の繰り返し" if summary.repeated_demand else ""))

        extra: dict = {"demands": [], "targets": []}  # filled when the GiNZA cascade runs
        passing = self._passing(scores, head)
        if passing:
            # counter-evidence declared as data (土下座したいくらい, 細胞を殺す): a label whose only
            # rule hits are look-alikes, with no hit of its own, keeps half its score
            hits = find(a, self.recognizers)
            for l in passing:
                mine = [h for h in hits if h.label == l]
                if mine and all(h.against for h in mine):
                    scores[l] *= COUNTER_FACTOR
            passing = self._passing(scores, head)
        if self.deep is not None and a.view.text.strip() and (
                passing or CASCADE_BAND[0] <= head <= CASCADE_BAND[1]):
            deep = self.deep(a.view.text)
            extra = self._deep_fields(a, deep)
            for l in NEGATABLE:
                if l in passing and self._only_negated(a, l, list(deep.negated)):
                    scores[l] *= COUNTER_FACTOR
            passing = self._passing(scores, head)
        # a label is only reported with evidence; any sentence can carry it, so no sentence, no label
        labels = tuple(l for l in self.labels if l in passing) if a.sentences else ()
        harassment = any(l in self.conduct for l in labels)
        conduct_scores = [scores[l] for l in labels if l in self.conduct]
        risk = max([head] + conduct_scores) if harassment else min(head, 0.49)
        level = self._level(harassment, risk, labels)
        persistence = summary.persistence if summary is not None else 0.0
        actions = tuple(self.policy.actions(labels, harassment, level, persistence, self.demands))
        return _Decision(message, a, scores, labels, harassment, risk, level, actions, summary, hist_note, extra)

    def _results(self, decisions: list["_Decision"]) -> list[Result]:
        """Attach evidence: rule hits first; for labels without one, the sentence the model
        scores highest, all sentences of the batch scored in one call."""
        hits = [[h for h in find(d.analysis, self.recognizers) if not h.against] if d.labels else []
                for d in decisions]
        evidence: list[list[Evidence]] = [[] for _ in decisions]
        need: list[tuple[int, str]] = []
        for k, d in enumerate(decisions):
            for l in d.labels:
                mine = [h for h in hits[k] if h.label == l][:MAX_EVIDENCE_PER_LABEL]
                for h in mine:
                    s, e = d.analysis.original_span(h.start, h.end)
                    if e > s:
                        evidence[k].append(Evidence(l, s, e, d.analysis.original[s:e], d.scores[l], "rule",
                                                    h.explanation))
                if not any(ev.label == l for ev in evidence[k]):
                    need.append((k, l))
        if need:
            spans: dict[int, tuple[int, int]] = {}
            subs: list[Analysis] = []
            for k in sorted({k for k, _ in need}):
                a = decisions[k].analysis
                spans[k] = (len(subs), len(subs) + len(a.sentences))
                subs.extend(_sentence_analysis(a, s) for s in a.sentences)
            SP = self.model.ngram_proba(subs)
            for k, l in need:
                d, (lo, hi) = decisions[k], spans[k]
                j = self.labels.index(l)
                best = lo + int(np.argmax(SP[lo:hi, j]))
                sent = d.analysis.sentences[best - lo]
                s, e = d.analysis.original_span(sent.start, sent.end)
                if l == "persistence" and d.hist_note:
                    src, expl = "history", d.hist_note
                else:
                    src, expl = "model", f"{self.taxonomy.get(l).ja}: メッセージ中で最も該当する文（文単位のn-gramスコア {SP[best, j]:.2f}）"
                evidence[k].append(Evidence(l, s, e, d.analysis.original[s:e], float(SP[best, j]), src, expl))
        return [Result(d.message.id, d.harassment, d.risk, d.level, d.labels, d.scores,
                       tuple(sorted(ev, key=lambda e: (self.labels.index(e.label), e.start))), d.actions,
                       self.version, d.summary, d.extra)
                for d, ev in zip(decisions, evidence)]

    def _only_negated(self, a: Analysis, label: str, negated: list[tuple[int, int]]) -> bool:
        """All rule hits of ``label`` sit inside predicates the parse marks as negated
        (殺すつもりはない, 晒すことはしません)."""
        hits = [h for h in find(a, self.recognizers) if h.label == label and not h.against]
        return bool(hits) and all(any(h.start < e and h.end > s for s, e in negated) for h in hits)

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

    def level_order(self, level: str) -> int:
        return LEVELS.index(level)


def _sentence_analysis(a: Analysis, s: Sentence) -> Analysis:
    """An Analysis of one sentence of ``a``, for scoring sentences as evidence. Its view,
    folded text and sentence are re-based to the sentence; its tokens are ``a``'s tokens inside
    the sentence, offsets left relative to ``a`` (the features read their text, not offsets)."""
    view = MappedText(a.view.text[s.start:s.end], a.view.starts[s.start:s.end], a.view.ends[s.start:s.end])
    starts = [t.start for t in a.tokens]
    lo, hi = bisect.bisect_left(starts, s.start), bisect.bisect_left(starts, s.end)
    return Analysis(a.original, (), view, a.folded[s.start:s.end], a.tokens[lo:hi],
                    (Sentence(0, s.end - s.start, view.text),))
