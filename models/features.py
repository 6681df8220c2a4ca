"""Feature transformers (scikit-learn estimator contract) over :class:`Analysis` objects.

The engine analyses a message once (``nlp.analysis.analyze``) and hands the same Analysis to
every feature, to the recognisers and to the evidence finder.
"""
from __future__ import annotations

import math
import re

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from ..nlp.normalize import fold_kana
from ..nlp.vectors import ginza_vectors
from .lexicon import default_lexicons
from .recognizers import default_recognizers, find
from .taxonomy import load_taxonomy

SECOND_PERSON = re.compile(r"お前|おまえ|てめえ|てめー|てめぇ|貴様|きさま|あんた|おめえ|おどれ|お宅ら|おたくら|お前ら|おまえら")
POLITE = re.compile(r"です|ます|ござい|いただ|頂|くださ|下さ|申し|存じ|恐れ入|恐縮|お願い|幸いです")
EXCLAIM = re.compile(r"[!！]{2,}")
QUESTION = re.compile(r"[?？]{2,}")
LAUGH = re.compile(r"w{2,}|笑")
IMPERATIVE_FORMS = ("命令形",)


class TextOf(BaseEstimator, TransformerMixin):
    """Analysis -> the string a vectoriser reads: ``kind='chars'`` the folded customer text
    (with a separately given subject in front), ``kind='lemmas'`` space-separated lemmas with
    imperatives marked (``為る!``) and sentence ends, ``kind='reading'`` the kana reading of the
    text (so 殺す, ころす and ｺﾛｽ look alike)."""

    def __init__(self, kind: str = "chars"):
        self.kind = kind

    def fit(self, X, y=None):
        if self.kind not in ("chars", "lemmas", "reading"):
            raise ValueError(f"kind must be 'chars', 'lemmas' or 'reading', not {self.kind!r}")
        return self

    def transform(self, X):
        if self.kind == "chars":
            return [(a.subject + "\n" + a.folded) if a.subject else a.folded for a in X]
        if self.kind == "reading":
            return [fold_kana("".join(t.reading for t in a.tokens)) for a in X]
        out = []
        for a in X:
            words = []
            for t in a.tokens:
                if t.pos in ("補助記号", "空白"):
                    if t.pos2 == "句点":
                        words.append("。")
                    continue
                lemma = t.lemma
                if t.cform.startswith(IMPERATIVE_FORMS):
                    lemma += "!"
                words.append(lemma)
            out.append(" ".join(words))
        return out


class CueFeatures(BaseEstimator, TransformerMixin):
    """Dense cues: recogniser hits per label, lexicon counts, imperatives, second-person
    pronouns, politeness, shouting punctuation, length and structure. Fixed transforms
    (log1p, ratios), nothing learned, so the same message always gives the same vector."""

    def __init__(self, use_recognizers: bool = True, use_lexicons: bool = True, weight: float = 0.25):
        self.use_recognizers = use_recognizers
        self.use_lexicons = use_lexicons
        self.weight = weight  # dense cues beside ~10^5 sparse n-grams: scaled down so they do not dominate

    def fit(self, X, y=None):
        self.labels_ = load_taxonomy().ids
        lex = default_lexicons()
        self.names_ = ([f"rule:{l}" for l in self.labels_] + [f"against:{l}" for l in self.labels_]
                       if self.use_recognizers else []) + (
            [f"lex:{c}" for c in lex.categories] if self.use_lexicons else []) + [
            "imperatives", "second_person", "polite_ratio", "exclaim_runs", "question_runs",
            "laugh", "log_len", "sentences", "quoted_share", "fullwidth_shout"]
        return self

    def get_feature_names_out(self, input_features=None):
        return np.array(self.names_, dtype=object)

    def transform(self, X):
        return sparse.csr_matrix(self.dense(X))

    def dense(self, X) -> np.ndarray:
        """The (n, n_features) cue matrix as a plain array (the engine's fast path)."""
        recognizers = default_recognizers()
        lex = default_lexicons()
        index = {l: k for k, l in enumerate(self.labels_)}
        rows = []
        for a in X:
            row = []
            if self.use_recognizers:
                r = [0.0] * (2 * len(self.labels_))
                for h in find(a, recognizers):
                    k = index[h.label] + (len(self.labels_) if h.against else 0)
                    r[k] = min(r[k] + h.strength, 2.0)
                row.extend(r)
            text = a.folded
            if self.use_lexicons:
                row.extend(math.log1p(c) for c in lex.counts(text))
            n_sent = max(len(a.sentences), 1)
            imperatives = sum(1 for t in a.tokens if t.cform.startswith(IMPERATIVE_FORMS))
            row.extend([
                math.log1p(imperatives),
                math.log1p(len(SECOND_PERSON.findall(text))),
                min(len(POLITE.findall(text)) / n_sent, 2.0),
                math.log1p(len(EXCLAIM.findall(text))),
                math.log1p(len(QUESTION.findall(text))),
                math.log1p(len(LAUGH.findall(text))),
                math.log1p(len(text)) / 8.0,
                math.log1p(n_sent) / 4.0,
                a.quoted_chars / max(len(a.original), 1),
                1.0 if re.search(r"[!！]{3,}", a.original) else 0.0,
            ])
            rows.append(row)
        return self.weight * np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)


class WordVectorFeatures(BaseEstimator, TransformerMixin):
    """Mean- and max-pooled ``ja_ginza`` static word vectors of the content words (lemma, else
    surface), each L2-normalised, times ``weight``: 600 dense dimensions that let words the
    corpus never showed sit near the words it did. The table comes from the installed
    ``ja_ginza`` package and is not stored in the model."""

    SKIP_POS = ("補助記号", "空白", "助詞", "助動詞")

    def __init__(self, weight: float = 0.3):
        self.weight = weight

    def fit(self, X, y=None):
        self.dim_ = ginza_vectors().dim
        return self

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_table", None)
        return state

    def transform(self, X):
        return sparse.csr_matrix(self.dense(X))

    def dense(self, X) -> np.ndarray:
        """The (n, 2 * dim) pooled vectors as a plain array (the engine's fast path)."""
        table = self.__dict__.get("_table")
        if table is None:  # kept on the instance, not saved (see __getstate__)
            table = self._table = ginza_vectors()
        out = np.zeros((len(X), 2 * self.dim_), dtype=np.float32)
        for i, a in enumerate(X):
            vs = []
            for t in a.tokens:
                if t.pos in self.SKIP_POS:
                    continue
                v = table.get(t.lemma)
                if v is None:
                    v = table.get(t.surface)
                if v is not None:
                    vs.append(v)
            if vs:
                m = np.vstack(vs)
                mean, mx = m.mean(axis=0), m.max(axis=0)
                out[i, :self.dim_] = mean / (np.linalg.norm(mean) + 1e-9)
                out[i, self.dim_:] = mx / (np.linalg.norm(mx) + 1e-9)
        return out * self.weight


class CompactTfidf(TfidfVectorizer):
    """TfidfVectorizer whose saved state keeps the vocabulary as one array of terms instead of
    a dict (a dict of 100k entries makes the skops file slow to load); rebuilt on load."""

    def __getstate__(self):
        state = dict(super().__getstate__())
        vocab = state.pop("vocabulary_", None)
        if vocab is not None:
            terms = [""] * len(vocab)
            for term, idx in vocab.items():
                terms[idx] = term
            state["vocabulary_terms_"] = np.array(terms, dtype=str)
        state.pop("stop_words_", None)
        state.pop("_analyzer_cache", None)
        state.pop("_char_index_cache", None)
        state.pop("_word_index_cache", None)
        return state

    def __setstate__(self, state):
        state = dict(state)
        terms = state.pop("vocabulary_terms_", None)
        if terms is not None:
            state["vocabulary_"] = {str(t): i for i, t in enumerate(terms.tolist())}
        super().__setstate__(state)

    def fast_transform(self, docs: list[str]):
        """The same matrix as ``transform`` (counts -> sublinear tf -> idf -> l2), built
        directly: scikit-learn's generic checks cost more than the counting on short texts."""
        idx, data, ptr = self.rows(docs)
        X = sparse.csr_matrix((data, idx, ptr), shape=(len(docs), len(self.vocabulary_)))
        X.has_sorted_indices = True  # columns come sorted within each row
        return X

    def rows(self, docs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``transform``'s matrix as CSR arrays (column indices sorted within a row, values,
        row pointers), without building a SciPy matrix."""
        if self._plain_char_analyzer():
            idx, counts, ptr = self._key_counts(docs, self._char_index(), self._char_keys)
        elif self._plain_word_analyzer():
            idx, counts, ptr = self._key_counts(docs, self._word_index()[:2], self._word_keys)
        else:
            idx, counts, ptr = self._analyzer_counts(docs)
        data = counts.astype(np.float32)
        if self.sublinear_tf:
            np.log(data, out=data)
            data += 1
        if self.use_idf:
            data *= self.idf_[idx]
        if self.norm == "l2":
            rows = np.repeat(np.arange(len(docs)), np.diff(ptr))
            norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=len(docs))).astype(np.float32)
            norms[norms == 0] = 1
            data /= norms[rows]
        return idx, data, ptr

    def _key_counts(self, docs: list[str], index, keys_of) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(columns, counts, row pointers) of every document's in-vocabulary n-grams, counted
        for the whole batch in a few array operations (columns sorted within a row).
        ``index``: the vocabulary as sorted integer keys and their columns; ``keys_of(docs)``:
        the same integer keys for every n-gram of the batch, and each one's document."""
        keys, cols = index
        grams, doc_of = keys_of(docs)
        pos = np.minimum(keys.searchsorted(grams), len(keys) - 1)
        hit = keys[pos] == grams
        cell, counts = np.unique(doc_of[hit] * len(self.vocabulary_) + cols[pos[hit]], return_counts=True)
        row, idx = np.divmod(cell, len(self.vocabulary_))
        ptr = np.searchsorted(row, np.arange(len(docs) + 1)).astype(np.int32)
        return idx.astype(np.int32), counts, ptr

    def _char_keys(self, docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Character n-gram keys of all documents at once: code points + 1 (< 2**21) packed 21
        bits each, so n-grams of different lengths never share a key; an n-gram that would run
        into the next document is dropped."""
        texts = [_WHITE_SPACES.sub(" ", d) for d in docs]
        lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        cp = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64) + 1
        doc_of = np.repeat(np.arange(len(texts), dtype=np.int64), lens)
        room = np.repeat(np.cumsum(lens), lens) - np.arange(len(cp))  # characters left in the document
        lo, hi = self.ngram_range
        grams, owners = [], []
        for n in range(lo, min(hi, len(cp)) + 1):
            m = len(cp) - n + 1
            k = _pack21([cp[j:m + j] for j in range(n)])
            inside = room[:m] >= n
            grams.append(k[inside])
            owners.append(doc_of[:m][inside])
        if not grams:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(grams), np.concatenate(owners)

    def _word_keys(self, docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Word uni- and bigram keys of all documents: word ids + 1 (0 for a word the vocabulary
        never uses); a bigram packs two ids, 31 bits each, so it never equals a unigram key."""
        ids = self._word_index()[2]
        per_doc = [[ids.get(w, 0) for w in d.split(" ") if w] for d in docs]
        t = np.fromiter((i for words in per_doc for i in words), dtype=np.int64)
        doc_of = np.repeat(np.arange(len(docs), dtype=np.int64), [len(w) for w in per_doc])
        lo, hi = self.ngram_range
        grams, owners = ([t], [doc_of]) if lo == 1 else ([], [])
        if hi >= 2 and len(t) >= 2:
            # a bigram with an unknown word, or across two documents, is key 0: never in the index
            ok = (t[:-1] > 0) & (t[1:] > 0) & (doc_of[:-1] == doc_of[1:])
            grams.append(np.where(ok, (t[:-1] << 31) | t[1:], 0))
            owners.append(doc_of[:-1])
        if not grams:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(grams), np.concatenate(owners)

    def _analyzer_counts(self, docs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The same for any analyzer, one feature at a time (scikit-learn's analyzer)."""
        analyzer = self.__dict__.get("_analyzer_cache")
        if analyzer is None:
            analyzer = self._analyzer_cache = self.build_analyzer()
        vocab = self.vocabulary_
        indptr, indices, values = [0], [], []
        for doc in docs:
            counts: dict[int, int] = {}
            for feature in analyzer(doc):
                j = vocab.get(feature)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            cols = sorted(counts)
            indices.extend(cols)
            values.extend(counts[j] for j in cols)
            indptr.append(len(indices))
        return (np.asarray(indices, dtype=np.int32), np.asarray(values, dtype=np.int64),
                np.asarray(indptr, dtype=np.int32))

    def _plain_char_analyzer(self) -> bool:
        """Character n-grams with no preprocessing but scikit-learn's whitespace folding: the
        case :meth:`_char_keys` counts exactly."""
        return (self.analyzer == "char" and not self.lowercase and self.strip_accents is None
                and self.preprocessor is None and self.input == "content" and self.ngram_range[1] <= 3
                and bool(self.vocabulary_))

    def _plain_word_analyzer(self) -> bool:
        """Uni- and bigrams of space-separated words, no preprocessing: what
        :meth:`_word_keys` counts exactly."""
        return (self.analyzer == "word" and self.token_pattern == r"[^ ]+" and self.tokenizer is None
                and not self.lowercase and self.strip_accents is None and self.preprocessor is None
                and self.stop_words is None and self.input == "content" and self.ngram_range[1] <= 2
                and bool(self.vocabulary_))

    def _word_index(self) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        """The vocabulary as sorted word-n-gram keys, their columns and the word ids (built once)."""
        cached = self.__dict__.get("_word_index_cache")
        if cached is None:
            ids: dict[str, int] = {}
            keys = np.zeros(len(self.vocabulary_), np.int64)
            cols = np.zeros(len(self.vocabulary_), np.int32)
            for k, (term, col) in enumerate(self.vocabulary_.items()):
                key = 0
                for w in term.split(" "):
                    key = (key << 31) | ids.setdefault(w, len(ids) + 1)
                keys[k], cols[k] = key, col
            order = np.argsort(keys)
            cached = self._word_index_cache = (keys[order], cols[order], ids)
        return cached

    def _char_index(self) -> tuple[np.ndarray, np.ndarray]:
        """The vocabulary as sorted integer n-gram keys and their columns (built once)."""
        cached = self.__dict__.get("_char_index_cache")
        if cached is None:
            by_len: dict[int, list[str]] = {}
            for t in self.vocabulary_:
                by_len.setdefault(len(t), []).append(t)
            keys, cols = [], []
            for n, terms in by_len.items():  # all terms of one length packed in one go
                cp = np.frombuffer("".join(terms).encode("utf-32-le", "surrogatepass"),
                                   dtype=np.uint32).astype(np.int64).reshape(len(terms), n) + 1
                keys.append(_pack21([cp[:, j] for j in range(n)]))
                cols.append(np.fromiter((self.vocabulary_[t] for t in terms), dtype=np.int32, count=len(terms)))
            keys, cols = np.concatenate(keys), np.concatenate(cols)
            order = np.argsort(keys)
            cached = self._char_index_cache = (keys[order], cols[order])
        return cached


_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's char analyzer folds runs of whitespace like this


def _pack21(code_points: list[np.ndarray]) -> np.ndarray:
    """One int64 key per position from the code points (+ 1) of an n-gram's characters, 21
    bits each: the same key for the same n-gram in a document and in the vocabulary."""
    key = code_points[0].copy()
    for c in code_points[1:]:
        key = (key << 21) | c
    return key


def build_features(char_max_features: int = 150_000, lemma_max_features: int = 40_000,
                   char_ngram_range=(1, 3), min_df: int = 2, cue_weight: float = 0.25,
                   reading_max_features: int = 60_000, vector_weight: float = 0.3) -> FeatureUnion:
    """The feature union used by the shipped model (sizes are the pruning knobs)."""
    chars = Pipeline([
        ("text", TextOf("chars")),
        ("tfidf", CompactTfidf(analyzer="char", ngram_range=char_ngram_range, min_df=min_df,
                                  max_features=char_max_features, sublinear_tf=True, lowercase=False,
                                  dtype=np.float32)),
    ])
    lemmas = Pipeline([
        ("text", TextOf("lemmas")),
        ("tfidf", CompactTfidf(analyzer="word", token_pattern=r"[^ ]+", ngram_range=(1, 2),
                                  min_df=min_df, max_features=lemma_max_features, sublinear_tf=True,
                                  lowercase=False, dtype=np.float32)),
    ])
    reading = Pipeline([
        ("text", TextOf("reading")),
        ("tfidf", CompactTfidf(analyzer="char", ngram_range=(2, 3), min_df=min_df,
                               max_features=reading_max_features, sublinear_tf=True, lowercase=False,
                               dtype=np.float32)),
    ])
    # the n-gram views come first: ScreeningModel.ngram_proba scores sentences with the parts
    # before "cues"
    return FeatureUnion([("chars", chars), ("lemmas", lemmas), ("reading", reading),
                         ("cues", CueFeatures(weight=cue_weight)),
                         ("vectors", WordVectorFeatures(weight=vector_weight))])
