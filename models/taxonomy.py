"""The screening taxonomy: 15 stable ids, read from ``data/taxonomy.json`` (single source)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

SEVERITY_ORDER = ("info", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    group: str  # conduct | demand
    severity: str  # info | medium | high | critical
    ja: str
    en: str
    guideline: str

    def as_dict(self) -> dict:
        return {"id": self.id, "group": self.group, "severity": self.severity, "ja": self.ja,
                "en": self.en, "guideline": self.guideline}


@dataclass(frozen=True, slots=True)
class Taxonomy:
    categories: tuple[Category, ...]
    source: str
    definition: str

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    @property
    def conduct_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories if c.group == "conduct")

    @property
    def demand_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories if c.group == "demand")

    def get(self, label: str) -> Category:
        for c in self.categories:
            if c.id == label:
                return c
        raise KeyError(label)

    def order(self, labels) -> list[str]:
        """``labels`` in canonical taxonomy order; unknown ids raise ValueError."""
        wanted = set(labels)
        unknown = wanted - set(self.ids)
        if unknown:
            raise ValueError(f"unknown label id(s): {sorted(unknown)}")
        return [i for i in self.ids if i in wanted]


@cache
def load_taxonomy() -> Taxonomy:
    raw = json.loads(resources.files("kasuhara.models").joinpath("data/taxonomy.json").read_text("utf-8"))
    cats = tuple(Category(**c) for c in raw["categories"])
    if len({c.id for c in cats}) != len(cats):
        raise ValueError("taxonomy.json: duplicate id")
    for c in cats:
        if c.group not in ("conduct", "demand") or c.severity not in SEVERITY_ORDER:
            raise ValueError(f"taxonomy.json: bad group/severity for {c.id}")
    return Taxonomy(cats, raw["source"], raw["definition"])
