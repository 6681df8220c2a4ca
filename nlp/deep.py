"""GiNZA (spaCy ``ja_ginza``) where it earns its cost: what is demanded and from whom, amounts,
named people, negation. ~40 ms a message, so the engine runs it only in a cascade (flagged or
uncertain messages), never for every message. Nothing spaCy leaves this module."""
from __future__ import annotations

import re
import threading

from .types import DeepAnalysis, Demand, Entity

_STRIP_SURU = re.compile(r"^(?:し|さ|せ)(?=て|で|ろ|よ|ない|ません|ず)")
_DESIRE_VERBS = {"求める", "要求", "請求", "要望", "希望", "要請"}
_REQUEST = re.compile(
    r"^(?:て|で)?(?:ください|下さい|くれ(?:ない|ません|よ|[。!！?？]|$)|ちょうだい|ほしい|欲しい"
    r"|いただきたい|頂きたい|いただけ(?:ます|ません|ない|れば)|頂け(?:ます|ません|ない|れば)"
    r"|もらいたい|貰いたい|もらえ(?:ます|ません|ない)|願います|願いたい|頂戴)")
_DESIRE = re.compile(r"^(?:を)?(?:求め|要求|要望|希望|請求)")
_NEG = re.compile(r"^(?:て|で)?(?:い)?(?:つもり|こと|気|わけ)?(?:は|も)?(?:ない|ありません|ございません|しません|しない|ません|ぬ|ん(?:$|[。、！!]))")
_ENTITY_LABELS = {"Person": "Person", "Money": "Money", "Position_Vocation": "Position",
                  "Company": "Organization", "Organization_Other": "Organization"}


class DeepAnalyzer:
    """Loads ``ja_ginza`` on first use (about 2 s), thread-safe, reusable."""

    def __init__(self, model: str = "ja_ginza"):
        self.model = model
        self._nlp = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._nlp is None:
                from thinc.api import NumpyOps, set_current_ops

                # blis falls back to slow generic kernels on these CPUs; plain NumPy is 3x faster
                set_current_ops(NumpyOps(use_blis=False))
                import spacy

                self._nlp = spacy.load(self.model)
        return self._nlp

    def __call__(self, text: str) -> DeepAnalysis:
        if not text.strip():
            return DeepAnalysis((), (), ())
        doc = self._load()(text)
        entities = tuple(Entity(e.text, _ENTITY_LABELS[e.label_], e.start_char, e.end_char)
                         for e in doc.ents if e.label_ in _ENTITY_LABELS)
        demands, negated = [], []
        for sent in doc.sents:
            money = [e for e in entities if e.label == "Money" and sent.start_char <= e.start < sent.end_char]
            for tok in sent:
                if tok.pos_ not in ("VERB", "INTJ") or tok.dep_ in ("fixed", "compound", "aux"):
                    continue
                chain = [tok]
                for t in doc[tok.i + 1:sent.end]:
                    if t.head.i in {c.i for c in chain} or t.dep_ in ("aux", "fixed", "mark"):
                        if t.dep_ in ("aux", "fixed", "mark"):
                            chain.append(t)
                            continue
                    break
                end_char = chain[-1].idx + len(chain[-1].text)
                after = _STRIP_SURU.sub("", text[tok.idx + len(tok.text):sent.end_char])
                forms = {f for t in chain for f in t.morph.get("Inflection")}
                is_neg = bool(_NEG.match(after))
                if is_neg:
                    negated.append((tok.idx, end_char))
                if any("命令形" in f for f in forms):
                    kind = "imperative"
                elif _REQUEST.match(after):
                    kind = "request"
                elif tok.lemma_ in _DESIRE_VERBS:
                    kind = "desire"
                else:
                    continue
                obj = _object_of(tok)
                rec = next((c for c in tok.children if c.dep_ in ("obl", "iobj")
                            and any(g.text in ("に", "から") for g in c.children if g.dep_ == "case")), None)
                start = min([tok.idx] + ([obj.left_edge.idx] if obj is not None else []))
                demands.append(Demand(
                    what=(_phrase(obj) + "を" if obj is not None else "") + tok.lemma_,
                    of=_phrase(rec) if rec is not None else "",
                    kind=kind, negated=is_neg, start=start, end=end_char,
                    amount=money[0].text if money else ""))
        return DeepAnalysis(tuple(demands), entities, tuple(negated))


def _object_of(tok):
    """The object of ``tok``; for light verbs (クビにする) the object of the noun before it."""
    obj = next((c for c in tok.children if c.dep_ == "obj"), None)
    if obj is None:
        for c in tok.children:
            if c.dep_ in ("advcl", "obl", "acl") and c.i < tok.i:
                obj = next((g for g in c.children if g.dep_ == "obj"), None) or obj
    return obj


def _phrase(tok) -> str:
    """The noun phrase headed by ``tok`` without its case particle."""
    words = [t for t in tok.subtree if t.dep_ != "case" or t.i < tok.i]
    words = [t for t in words if t.i <= tok.i]
    return "".join(t.text for t in words)
