"""Static word vectors shipped inside the ``ja_ginza`` package (20,000 words x 300, chiVe-based).

Read straight from the package's vocab folder (no spaCy pipeline is built), looked up by word.
Nothing is downloaded: the table is part of an installed dependency.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np


class WordVectors:
    def __init__(self, vectors: np.ndarray, key2row: dict[int, int], hash_fn):
        self._vectors = vectors
        self._key2row = key2row
        self._hash = hash_fn
        self.dim = vectors.shape[1]

    def get(self, word: str) -> np.ndarray | None:
        row = self._key2row.get(self._hash(word))
        return None if row is None else self._vectors[row]


@cache
def ginza_vectors(package: str = "ja_ginza") -> WordVectors:
    from spacy.strings import hash_string
    from spacy.util import get_package_path
    from spacy.vectors import Vectors

    base = Path(get_package_path(package))
    vocab = next(p for p in base.glob("*/vocab") if (p / "vectors").exists())
    vec = Vectors().from_disk(vocab)
    table = np.asarray(vec.data, dtype=np.float32)
    key2row = {int(k): int(r) for k, r in vec.key2row.items()}
    return WordVectors(table, key2row, hash_string)
