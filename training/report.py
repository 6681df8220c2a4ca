"""`kasuhara evaluate --candidate`: a candidate model beside the serving one on the same fixed
test data, per label (P/R/F1/AP and their deltas), with plots (precision-recall per label,
confusion between categories, calibration) as PNG and one HTML page that embeds them."""
from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models.engine import Engine
from ..models.taxonomy import Taxonomy, load_taxonomy
from .evaluate import to_messages
from .metrics import evaluate_predictions
from .train import label_matrix

CJK_FONTS = ("Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", "IPAGothic", "TakaoGothic", "VL Gothic")
METRICS = ("precision", "recall", "f1", "ap")


@dataclass
class Scored:
    """One system's predictions on the test records."""
    name: str  # "serving" / "candidate"
    version: str
    y_true: np.ndarray  # (n, 15) bool
    y_pred: np.ndarray  # (n, 15) bool
    scores: np.ndarray  # (n, 15) probabilities
    risk: np.ndarray  # (n,)
    hard_negative: np.ndarray  # (n,) bool


def score_records(engine: Engine, records: list[dict], name: str, batch: int = 256) -> Scored:
    tax = load_taxonomy()
    labels = list(tax.ids)
    msgs = to_messages(records)
    results = []
    for k in range(0, len(msgs), batch):
        results.extend(engine.score_batch(msgs[k:k + batch]))
    y_pred = np.array([[l in r.labels for l in labels] for r in results], dtype=bool).reshape(-1, len(labels))
    scores = np.array([[r.scores[l] for l in labels] for r in results], dtype=float).reshape(-1, len(labels))
    return Scored(name, engine.version, label_matrix(records, labels, set(tax.conduct_ids))[:, :-1].astype(bool),
                  y_pred, scores, np.array([r.risk for r in results], dtype=float),
                  np.array([bool(r.get("hard_negative")) for r in records]))


def average_precision(truth: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(truth, score)) if truth.any() else 0.0


def metrics_of(s: Scored, tax: Taxonomy | None = None) -> dict:
    """The evaluation metrics (as `kasuhara evaluate`) plus average precision per label."""
    tax = tax or load_taxonomy()
    m = evaluate_predictions(list(tax.ids), list(tax.conduct_ids), list(tax.demand_ids), s.y_true, s.y_pred,
                             s.risk, s.hard_negative)
    for k, l in enumerate(tax.ids):
        m["per_label"][l]["ap"] = average_precision(s.y_true[:, k], s.scores[:, k])
    return m


def compare(baseline: dict, candidate: dict, labels: list[str]) -> dict:
    """Per-label and overall deltas (candidate - baseline)."""
    def trio(a, b):
        return {"baseline": a, "candidate": b, "delta": b - a}

    return {
        "per_label": {l: {m: trio(baseline["per_label"][l][m], candidate["per_label"][l][m]) for m in METRICS}
                      | {"support": candidate["per_label"][l]["support"]} for l in labels},
        "overall": {k: trio(*(x[k] for x in (baseline, candidate))) for k in
                    ("fpr_non_harassment", "fpr_hard_negative", "ece_risk", "conduct_macro_f1", "demand_macro_f1")}
                   | {"harassment_f1": trio(baseline["harassment"]["f1"], candidate["harassment"]["f1"])},
    }


# -- plots ------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    cjk = next((f for f in CJK_FONTS if f in have), None)
    if cjk:
        plt.rcParams["font.family"] = [cjk, "sans-serif"]
    return plt, cjk is not None


def _names(tax: Taxonomy, japanese: bool) -> list[str]:
    return [c.ja if japanese else c.id for c in tax.categories]


def plot_pr(systems: list[Scored], path: Path, tax: Taxonomy) -> None:
    """Precision-recall curves per label, one panel per label, every system in each."""
    from sklearn.metrics import precision_recall_curve

    plt, ja = _plt()
    names = _names(tax, ja)
    fig, axes = plt.subplots(3, 5, figsize=(17, 10), sharex=True, sharey=True)
    for k, ax in enumerate(axes.flat):
        for s in systems:
            if s.y_true[:, k].any():
                p, r, _ = precision_recall_curve(s.y_true[:, k], s.scores[:, k])
                ax.plot(r, p, label=f"{s.name} AP {average_precision(s.y_true[:, k], s.scores[:, k]):.2f}")
        ax.set_title(f"{names[k]} (n={int(systems[0].y_true[:, k].sum())})", fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="lower left")
        ax.grid(alpha=0.3)
    fig.supxlabel("recall")
    fig.supylabel("precision")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def cooccurrence(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(k+1, k+1): row i = true label i (last: no label), column j = predicted label j (last:
    no label); each row divided by the messages with that true label."""
    k = y_true.shape[1]
    T = np.hstack([y_true, ~y_true.any(axis=1, keepdims=True)]).astype(float)
    P = np.hstack([y_pred, ~y_pred.any(axis=1, keepdims=True)]).astype(float)
    M = T.T @ P
    support = T.sum(axis=0)[:, None]
    return np.divide(M, support, out=np.zeros((k + 1, k + 1)), where=support > 0)


def plot_confusion(s: Scored, path: Path, tax: Taxonomy) -> None:
    plt, ja = _plt()
    names = _names(tax, ja) + (["（なし）"] if ja else ["(none)"])
    M = cooccurrence(s.y_true, s.y_pred)
    fig, ax = plt.subplots(figsize=(10, 9))
    im = ax.imshow(M, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=70, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            if M[i, j] >= 0.05:
                ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if M[i, j] > 0.6 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{s.name} {s.version}: " + ("正解ラベル（行）のうち各ラベル（列）と予測された割合" if ja else
                                              "share of messages with the row's true label predicted as the column"))
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def reliability(prob: np.ndarray, truth: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean predicted, observed rate, count) per non-empty probability bin."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(prob, edges[1:-1]), 0, bins - 1)
    return [(float(prob[idx == b].mean()), float(truth[idx == b].mean()), int((idx == b).sum()))
            for b in range(bins) if (idx == b).any()]


def plot_calibration(systems: list[Scored], path: Path, tax: Taxonomy) -> None:
    plt, _ = _plt()
    conduct = np.array([c.group == "conduct" for c in tax.categories])
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect")
    for s in systems:
        pts = reliability(s.risk, s.y_true[:, conduct].any(axis=1).astype(float))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{s.name} {s.version}")
    ax.set_xlabel("risk (predicted)")
    ax.set_ylabel("share that is harassment")
    ax.set_title("calibration of risk")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_drift(rep: dict, path: Path) -> Path | None:
    """Daily harassment and label rates of a drift report (models.drift.drift_report); None
    when the series is empty."""
    if not rep["series"]:
        return None
    plt, _ = _plt()
    fig, ax = plt.subplots(figsize=(10, 4))
    days = [b["start"][:10] for b in rep["series"]]
    ax.plot(days, [b["harassment_rate"] for b in rep["series"]], marker="o", label="harassment", lw=2)
    for l in rep["series"][0]["label_rates"]:
        ax.plot(days, [b["label_rates"][l] for b in rep["series"]], lw=0.8, label=l)
    ax.set_ylabel("rate")
    ax.legend(fontsize=6, ncol=4)
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def drift_html(rep: dict) -> str:
    """The drift section's table and alerts."""
    rows = ["<table><tr><th>日</th><th>件数</th><th>カスハラ率</th><th>risk p50</th><th>risk p90</th></tr>"]
    for b in rep["series"]:
        rows.append(f"<tr><td>{b['start'][:10]}</td><td>{b['messages']}</td><td>{b['harassment_rate']:.1%}</td>"
                    f"<td>{b['risk_quantiles']['p50']:.2f}</td><td>{b['risk_quantiles']['p90']:.2f}</td></tr>")
    rows.append("</table>")
    ref = rep.get("reference") or {}
    if ref:
        src = str(ref.get("source", ""))
        src = (f"期間の最初の日（{src[len('first day '):]}）" if src.startswith("first day ")
               else f"モデルカード（{src[len('model card '):]}）" if src.startswith("model card ") else src)
        rows.append(f"<p>基準: {html.escape(src)}</p>")
    rows += [f"<p class='down'>⚠ {html.escape(a['message'])}</p>" for a in rep["alerts"]] or ["<p>アラートなし</p>"]
    return "\n".join(rows)


# -- the report -------------------------------------------------------------------------------
def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def _cell(d: float, higher_is_better: bool = True) -> str:
    good = d > 0 if higher_is_better else d < 0
    cls = "same" if abs(d) < 0.005 else ("up" if good else "down")
    return f'<td class="{cls}">{d:+.3f}</td>'


def comparison_html(cmp: dict, tax: Taxonomy) -> str:
    rows = ["<table><tr><th>カテゴリ</th><th>id</th><th>件数</th>"
            + "".join(f"<th>{m.upper()} 現行</th><th>{m.upper()} 候補</th><th>差</th>" for m in METRICS) + "</tr>"]
    for l, d in cmp["per_label"].items():
        rows.append(f"<tr><td>{html.escape(tax.get(l).ja)}</td><td>{l}</td><td>{d['support']}</td>"
                    + "".join(f"<td>{d[m]['baseline']:.3f}</td><td>{d[m]['candidate']:.3f}</td>{_cell(d[m]['delta'])}"
                              for m in METRICS) + "</tr>")
    rows.append("</table>")
    ja = {"harassment_f1": "カスハラ判定 F1", "fpr_non_harassment": "誤検知率（非カスハラ）",
          "fpr_hard_negative": "誤検知率（紛らわしい非カスハラ）", "ece_risk": "較正誤差 ECE（risk）",
          "conduct_macro_f1": "言動カテゴリ macro-F1", "demand_macro_f1": "要求カテゴリ macro-F1"}
    rows.append("<table><tr><th>指標</th><th>現行</th><th>候補</th><th>差</th></tr>")
    for k, d in cmp["overall"].items():
        lower = k.startswith(("fpr", "ece"))
        rows.append(f"<tr><td>{ja[k]}</td><td>{d['baseline']:.3f}</td><td>{d['candidate']:.3f}</td>"
                    f"{_cell(d['delta'], not lower)}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


STYLE = ("body{font-family:'Noto Sans JP','Hiragino Sans','Yu Gothic',sans-serif;margin:2em;max-width:1400px}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
         "td:first-child,th:first-child{text-align:left}.up{background:#dff5df}.down{background:#fadcdc}"
         "img{max-width:100%}figure{margin:1em 0}")


def write_report(out_dir: str | Path, baseline: Scored, candidate: Scored, data_name: str,
                 drift_html: str = "", drift_plot: Path | None = None) -> dict:
    """Write the PNGs, ``comparison.json`` and ``index.html`` into ``out_dir``; returns the
    comparison (with the metrics of both systems)."""
    tax = load_taxonomy()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mb, mc = metrics_of(baseline, tax), metrics_of(candidate, tax)
    cmp = compare(mb, mc, list(tax.ids))
    plots = {"pr_curves.png": "適合率–再現率（カテゴリ別）",
             "confusion_candidate.png": f"カテゴリ間の混同（候補 {candidate.version}）",
             "confusion_serving.png": f"カテゴリ間の混同（現行 {baseline.version}）",
             "calibration.png": "risk の較正（信頼性図）"}
    plot_pr([baseline, candidate], out / "pr_curves.png", tax)
    plot_confusion(candidate, out / "confusion_candidate.png", tax)
    plot_confusion(baseline, out / "confusion_serving.png", tax)
    plot_calibration([baseline, candidate], out / "calibration.png", tax)
    report = {"data": data_name, "n": int(len(candidate.risk)), "serving": baseline.version,
              "candidate": candidate.version, "comparison": cmp, "metrics": {"serving": mb, "candidate": mc}}
    (out / "comparison.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", "utf-8")
    parts = [f"<!doctype html><html lang='ja'><head><meta charset='utf-8'><title>モデル比較 {html.escape(candidate.version)}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>モデル比較: 候補 {html.escape(candidate.version)} / 現行 {html.escape(baseline.version)}</h1>",
             f"<p>評価データ: {html.escape(data_name)}（{report['n']} 件、同じ固定テストデータで両モデルを評価）。"
             "緑は候補が良い、赤は悪い。</p>", "<h2>カテゴリ別・全体の指標</h2>", comparison_html(cmp, tax),
             "<h2>図</h2>"] + [_img(out / f, alt) for f, alt in plots.items()]
    if drift_html:
        parts += ["<h2>ドリフト（本番データのラベル率の推移）</h2>", drift_html]
        if drift_plot is not None:
            parts.append(_img(drift_plot, "日別のラベル率"))
    parts.append("</body></html>")
    (out / "index.html").write_text("\n".join(parts) + "\n", "utf-8")
    return report
