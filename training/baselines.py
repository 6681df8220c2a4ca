"""Two baselines evaluated on the same split as the model.

(a) ``LexiconBaseline``: a label fires when a keyword of its list occurs anywhere in the
    normalised text. Lists: the public lexicons (profanity / offensive -> insult, offensive ->
    discrimination, sexual -> sexual) plus keywords taken from the guideline's wording.
(b) ``TfidfBaseline``: character 1-3-gram TF-IDF of the raw text + one logistic regression per
    label (and one for the binary harassment decision), threshold 0.5.
Neither reads the mail structure, so quoted abuse counts as abuse: that is part of what they
show.
"""
from __future__ import annotations

import re

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from ..models.lexicon import default_lexicons
from ..nlp.normalize import fold_kana, normalize

# guideline wording -> keywords (kana in hiragana; matched on normalised, kana-folded text)
GUIDELINE_KEYWORDS = {
    "violence": ["殺す", "ころす", "殺し", "殴", "なぐ", "刺す", "暴力", "暴行", "傷害", "火をつけ"],
    "threat": ["脅", "晒す", "さらす", "拡散", "ばらす", "訴え", "出るところに出", "覚悟", "潰す", "つぶす"],
    "defamation": ["詐欺", "さぎ", "中傷", "名誉毀損", "犯罪", "ぼったくり"],
    "insult": ["無能", "ばか", "馬鹿", "あほ", "死ね", "しね", "くず", "かす", "給料泥棒", "役立たず", "侮辱", "暴言"],
    "intimidation": ["ふざけ", "なめ", "舐め", "さっさと", "いい加減にしろ", "おい", "威圧"],
    "authority": ["誰だと思", "知り合い", "上客", "議員", "権威"],
    "dogeza": ["土下座", "どげざ"],
    "persistence": ["何度", "毎日", "しつこ", "繰り返"],
    "restraint": ["帰らない", "切るな", "居座", "待ってる", "監禁", "不退去"],
    "discrimination": ["外国人", "女じゃ", "女には", "年寄り", "差別", "障害者"],
    "sexual": ["彼氏", "下着", "えろ", "性的", "せくはら"],
    "personal_attack": ["くび", "クビ", "辞めさせ", "住所", "携帯番号", "個人", "担当者を替え"],
    "demand_exchange": ["交換", "取り替え", "再送", "代替品"],
    "demand_compensation": ["返金", "補償", "賠償", "弁償", "慰謝料", "払い戻", "値引き"],
    "demand_apology": ["謝罪", "謝れ", "お詫び", "詫び", "あやまれ"],
}
LEXICON_TO_LABELS = {"profanity": ["insult"], "offensive": ["insult", "discrimination"], "sexual": ["sexual"]}


class LexiconBaseline:
    def __init__(self, labels: list[str], conduct: list[str]):
        self.labels = labels
        self.conduct = conduct
        lex = default_lexicons()
        pats = {l: [re.escape(fold_kana(normalize(w).text)) for w in GUIDELINE_KEYWORDS.get(l, [])] for l in labels}
        self.patterns = {l: re.compile("|".join(p)) if p else None for l, p in pats.items()}
        self.lexicon = lex

    def fit(self, texts, Y):
        return self

    def predict(self, texts) -> tuple[np.ndarray, np.ndarray]:
        """(y_pred (n, k) 0/1, risk (n,))."""
        Y = np.zeros((len(texts), len(self.labels)), dtype=int)
        for i, t in enumerate(texts):
            f = fold_kana(normalize(t).text)
            for k, l in enumerate(self.labels):
                p = self.patterns[l]
                if p is not None and p.search(f):
                    Y[i, k] = 1
            for cat, n in zip(self.lexicon.categories, self.lexicon.counts(f)):
                if n and cat in LEXICON_TO_LABELS:
                    for l in LEXICON_TO_LABELS[cat]:
                        Y[i, self.labels.index(l)] = 1
        ci = [self.labels.index(l) for l in self.conduct]
        return Y, Y[:, ci].any(axis=1).astype(float)


class TfidfBaseline:
    def __init__(self, labels: list[str], conduct: list[str], C: float = 4.0):
        self.labels = labels
        self.conduct = conduct
        self.C = C

    def fit(self, texts, Y):
        Y = np.asarray(Y)
        self.vec_ = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True,
                                    max_features=200_000)
        X = self.vec_.fit_transform(texts)
        ci = [self.labels.index(l) for l in self.conduct]
        cols = [Y[:, k] for k in range(Y.shape[1])] + [Y[:, ci].any(axis=1).astype(int)]
        self.models_ = [LogisticRegression(C=self.C, solver="liblinear", class_weight="balanced").fit(X, y)
                        if 0 < y.sum() < len(y) else None for y in cols]
        return self

    def predict(self, texts) -> tuple[np.ndarray, np.ndarray]:
        X = self.vec_.transform(texts)
        P = np.column_stack([m.predict_proba(X)[:, 1] if m is not None else np.zeros(X.shape[0])
                             for m in self.models_])
        return (P[:, :-1] >= 0.5).astype(int), P[:, -1]
