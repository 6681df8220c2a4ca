"""The response policy: which actions to recommend, as editable data."""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

LEVELS = ("none", "low", "medium", "high", "critical")
_CONDITIONS = {"labels_any", "harassment", "level_at_least", "demand_only", "persistence_at_least"}


class PolicyError(ValueError):
    """The response-policy file is malformed."""


@dataclass(frozen=True)
class ResponsePolicy:
    rules: tuple[tuple[dict, tuple[str, ...]], ...]
    default: tuple[str, ...]

    @classmethod
    def from_dict(cls, raw: dict, label_ids) -> "ResponsePolicy":
        if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list):
            raise PolicyError("policy must be an object with a 'rules' list")
        rules = []
        for k, r in enumerate(raw["rules"]):
            when, actions = r.get("when"), r.get("actions")
            if not isinstance(when, dict) or not when or set(when) - _CONDITIONS:
                raise PolicyError(f"rule {k}: 'when' must use only {sorted(_CONDITIONS)}")
            if not isinstance(actions, list) or not all(isinstance(a, str) and a for a in actions):
                raise PolicyError(f"rule {k}: 'actions' must be a list of strings")
            unknown = set(when.get("labels_any", [])) - set(label_ids)
            if unknown:
                raise PolicyError(f"rule {k}: unknown label ids {sorted(unknown)}")
            if "level_at_least" in when and when["level_at_least"] not in LEVELS:
                raise PolicyError(f"rule {k}: level_at_least must be one of {LEVELS}")
            rules.append((when, tuple(actions)))
        default = raw.get("default", [])
        if not isinstance(default, list):
            raise PolicyError("'default' must be a list of strings")
        return cls(tuple(rules), tuple(default))

    def actions(self, labels, harassment: bool, level: str, persistence: float, demand_ids) -> list[str]:
        labels = set(labels)
        out: list[str] = []
        for when, actions in self.rules:
            ok = True
            if "labels_any" in when:
                ok &= bool(labels & set(when["labels_any"]))
            if "harassment" in when:
                ok &= harassment == bool(when["harassment"])
            if "level_at_least" in when:
                ok &= LEVELS.index(level) >= LEVELS.index(when["level_at_least"])
            if "demand_only" in when:
                ok &= (bool(labels & set(demand_ids)) and not harassment) == bool(when["demand_only"])
            if "persistence_at_least" in when:
                ok &= persistence >= float(when["persistence_at_least"])
            if ok:
                out.extend(a for a in actions if a not in out)
        return out or list(self.default)


def load_policy(path: str | Path | None, label_ids) -> ResponsePolicy:
    try:
        text = (Path(path).read_text("utf-8") if path is not None else
                resources.files("kasuhara.models").joinpath("data/response_policy.json").read_text("utf-8"))
        raw = json.loads(text)
    except (OSError, json.JSONDecodeError) as e:
        raise PolicyError(f"cannot read response policy {path or '(default)'}: {e}") from None
    return ResponsePolicy.from_dict(raw, label_ids)
