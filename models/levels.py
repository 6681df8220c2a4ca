"""How result levels are shown to people: Japanese label, icon (a shape, never colour alone),
whether the evidence is shielded. Read from ``data/levels.json``; the ids and their order are
``policy.LEVELS``."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .policy import LEVELS


@dataclass(frozen=True, slots=True)
class Level:
    id: str
    ja: str
    en: str
    icon: str
    shield: bool
    description: str
    colour: str  # the badge's colour and the console's (CSS --lv-ID)
    background: str  # the console's tint for this level (CSS --lv-ID-bg)

    @property
    def badge(self) -> str:
        """Icon and Japanese label, e.g. ``✖ 緊急``."""
        return f"{self.icon} {self.ja}"

    def as_dict(self) -> dict:
        return {"id": self.id, "ja": self.ja, "en": self.en, "icon": self.icon, "shield": self.shield,
                "description": self.description, "rank": LEVELS.index(self.id), "colour": self.colour,
                "background": self.background}


@cache
def load_levels() -> dict[str, Level]:
    """Level id -> ``Level``, in ``LEVELS`` order."""
    raw = json.loads(resources.files("kasuhara.models").joinpath("data/levels.json").read_text("utf-8"))
    levels = {d["id"]: Level(**d) for d in raw["levels"]}
    if tuple(levels) != LEVELS:
        raise ValueError(f"levels.json: ids must be {LEVELS} in that order, got {tuple(levels)}")
    return levels
