"""The model artifact: a skops file (no raw pickle) plus a self-describing model card.

``model.skops`` holds a :class:`ScreeningModel` (the fitted Pipeline, label order, thresholds,
version). ``model_card.json`` (and a readable ``model_card.md``) carry version, data hash,
labels, thresholds, metrics and training config; the card is also inside the skops file.
Loading only trusts types from this package, scikit-learn, NumPy and SciPy.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

HEAD = "harassment"  # the binary head, last column of the classifier
GATE = "harassment_gate"  # thresholds key: head probability below which no conduct label is reported
TRUSTED_PREFIXES = ("kasuhara.", "sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


class ArtifactError(RuntimeError):
    """The model artifact is missing, corrupt or not a kasuhara model."""


@dataclass
class ScreeningModel:
    pipeline: object  # sklearn Pipeline: features -> CalibratedMultiLabel
    labels: list[str]  # the 15 taxonomy ids, classifier columns 0..14; column 15 is HEAD
    thresholds: dict[str, float]  # per label and for HEAD
    version: str
    card: dict = field(default_factory=dict)

    def _decision(self, analyses, stop_at: str | None = None) -> np.ndarray:
        """The classifier's decision values ``X @ W + b``, accumulated view by view straight
        from each view's arrays: no SciPy matrix is built (constructing one costs more than
        the arithmetic on a short message). Same numbers as ``clf.decision_function``; tested."""
        clf = self.pipeline.named_steps["clf"]
        W = clf._weights()
        dec = np.zeros((len(analyses), W.shape[1]))
        offset = 0
        for name, step in self.pipeline.named_steps["features"].transformer_list:
            if name == stop_at:
                break
            if hasattr(step, "named_steps"):  # text view -> CompactTfidf
                text_of, tfidf = step.steps[0][1], step.steps[-1][1]
                idx, data, ptr = tfidf.rows(text_of.transform(analyses))
                running = np.zeros((len(data) + 1, W.shape[1]))  # row sums as differences of a running sum
                np.cumsum(data[:, None] * W[offset + idx], axis=0, out=running[1:])
                dec += running[ptr[1:]] - running[ptr[:-1]]
                offset += len(tfidf.vocabulary_)
            else:
                X = step.dense(analyses)
                dec += X @ W[offset:offset + X.shape[1]]
                offset += X.shape[1]
        return dec + clf.intercept_

    def ngram_proba(self, analyses) -> np.ndarray:
        """Probabilities from the n-gram features alone (the dense features taken as zero):
        a cheap score to find the sentence of a message that carries a label."""
        return self.pipeline.named_steps["clf"].calibrate(self._decision(analyses, stop_at="cues"))

    def predict_proba(self, analyses) -> np.ndarray:
        return self.pipeline.named_steps["clf"].calibrate(self._decision(analyses))


def default_model_dir() -> Path:
    return Path(str(resources.files("kasuhara.models").joinpath("artifacts")))


def save(model: ScreeningModel, directory: str | Path) -> Path:
    import skops.io as sio

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "model.skops"
    sio.dump(model, path, compression=zipfile.ZIP_DEFLATED)
    (d / "model_card.json").write_text(json.dumps(model.card, ensure_ascii=False, indent=1) + "\n", "utf-8")
    (d / "model_card.md").write_text(card_markdown(model.card), "utf-8")
    return path


def load(path: str | Path | None = None) -> ScreeningModel:
    """Load ``path`` (a model.skops file or a directory holding one); default: the shipped model."""
    import skops.io as sio

    p = Path(path) if path is not None else default_model_dir()
    if p.is_dir():
        p = p / "model.skops"
    if not p.is_file():
        raise ArtifactError(f"no model at {p}: train one with `kasuhara train` or reinstall the package")
    try:
        untrusted = sio.get_untrusted_types(file=p)
    except Exception as e:  # skops raises many types for a damaged zip; all mean "corrupt"
        raise ArtifactError(f"model file {p} is not a readable skops file: {e}") from None
    foreign = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if foreign:
        raise ArtifactError(f"model file {p} contains types this package does not trust: {foreign[:5]}")
    try:
        model = sio.load(p, trusted=untrusted)
    except Exception as e:
        raise ArtifactError(f"model file {p} could not be loaded: {e}") from None
    if not isinstance(model, ScreeningModel):
        raise ArtifactError(f"model file {p} does not hold a kasuhara ScreeningModel")
    return model


def card_markdown(card: dict) -> str:
    lines = [f"# Model card: kasuhara screening model {card.get('version', '?')}", ""]
    for key in ("created", "data_hash", "training_config"):
        if key in card:
            val = card[key]
            lines.append(f"- **{key}**: `{json.dumps(val, ensure_ascii=False) if isinstance(val, dict) else val}`")
    lines += ["", "## Intended use", "", card.get("intended_use", ""), "",
              "## Labels and thresholds", "", "| label | threshold |", "|---|---|"]
    for label, thr in card.get("thresholds", {}).items():
        lines.append(f"| {label} | {thr:.2f} |")
    for name, table in card.get("metrics", {}).items():
        lines += ["", f"## Metrics: {name}", "", "```", table.get("table", ""), "```"]
    if card.get("limitations"):
        lines += ["", "## Limitations", ""] + [f"- {x}" for x in card["limitations"]]
    return "\n".join(lines) + "\n"
