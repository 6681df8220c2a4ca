#!/usr/bin/env python3
"""Render the README's results section from the model card and the benchmark JSON files
(between the <!-- results:start --> / <!-- results:end --> markers)."""
from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return json.load(f)


def section() -> str:
    card = load("models/artifacts/model_card.json")
    bench = load("bench/results_engine.json")
    casc = load("bench/results_cascade.json")
    labels = card["labels"]
    tsys = card["metrics"]["test"]["systems"]
    tn = list(tsys)
    tm = tsys[tn[0]]
    out = [
        "## Results", "",
        f"Model `{card['version']}` on the corpus **test split** (`kasuhara evaluate --data test`), beside the",
        "two baselines trained / run on the same split (lexicon-only; TF-IDF character 1-3-grams + logistic",
        "regression):", "", "```", card["metrics"]["test"]["table"], "```", "",
    ]
    worse = [l for l in labels if tm["per_label"][l]["f1"] < max(tsys[n]["per_label"][l]["f1"] for n in tn[1:])]
    probe = card["metrics"].get("dev-probe")
    if probe:
        ps = probe["systems"]
        pn = list(ps)
        mp = ps[pn[0]]
        out += ["The same three systems on the **development probe** (`shared/data/dev-probe`: 220 messages "
                "written", "independently of the corpus, seven businesses; never trained or tuned on, only "
                "reported):", "",
                "| | model | lexicon baseline | TF-IDF+LR baseline |", "|---|---|---|---|"]
        rows = [("harassment F1", lambda m: m["harassment"]["f1"]),
                ("harassment precision", lambda m: m["harassment"]["precision"]),
                ("harassment recall", lambda m: m["harassment"]["recall"]),
                ("FPR non-harassment", lambda m: m["fpr_non_harassment"]),
                ("ECE (risk)", lambda m: m["ece_risk"]),
                ("conduct macro-F1", lambda m: m["conduct_macro_f1"]),
                ("demand macro-F1", lambda m: m["demand_macro_f1"])]
        for title, f in rows:
            out.append(f"| {title} | " + " | ".join(f"{f(ps[n]):.3f}" for n in pn) + " |")
        pworse = [l for l in labels if mp["per_label"][l]["f1"] < max(ps[n]["per_label"][l]["f1"] for n in pn[1:])]
        out += ["", "(The probe's file carries no hard-negative flags, so its hard-negative FPR is not reported.)"]
    out += [
        "", "Against the targets of the engine issue, on the own test split: binary F1 ≥ 0.92 "
        f"(**{tm['harassment']['f1']:.3f}**), FPR ≤ 3 % on non-harassment (**{tm['fpr_non_harassment']:.1%}**) "
        f"and ≤ 5 % on hard negatives (**{tm['fpr_hard_negative']:.1%}**), conduct macro-F1 ≥ 0.80 "
        f"(**{tm['conduct_macro_f1']:.3f}**), demand macro-F1 ≥ 0.85 (**{tm['demand_macro_f1']:.3f}**).",
        "Better than both baselines on every label: " + (
            "yes." if not worse else
            f"not yet: on the test split the TF-IDF baseline is ahead on {', '.join(worse)}."),
    ]
    if probe:
        out += [f"On the probe (unseen text): binary F1 ≥ 0.90 (**{mp['harassment']['f1']:.3f}**), "
                f"FPR ≤ 5 % (**{mp['fpr_non_harassment']:.1%}**), conduct macro-F1 ≥ 0.75 "
                f"(**{mp['conduct_macro_f1']:.3f}**); the TF-IDF baseline is ahead there on "
                f"{', '.join(pworse) or 'no label'}."]
    size = os.path.getsize(os.path.join(ROOT, "models/artifacts/model.skops")) / 1e6
    out += [
        "", "### Speed and size", "",
        f"`taskset -c 0 .venv/bin/python bench/bench_engine.py` on one core of this machine ({bench['machine']}); "
        f"{bench['messages']} test-split messages of 100-300 characters (mean {bench['mean_chars']}), more than "
        "half of them harassment, far more than real traffic. Figures in `bench/results_engine.json`.", "",
        "| measure | figure | target |", "|---|---|---|",
        f"| batch scoring, cascade off (the batch default) | **{bench['batch_msgs_per_s']} messages/s** | ≥ 500 |",
        f"| fugashi tokenisation alone, same input | {bench['fugashi_tokenise_msgs_per_s']} messages/s | "
        f"a quarter: {bench['fugashi_tokenise_msgs_per_s'] // 4} |",
        f"| single message in-process, p50 / p99 | {bench['single']['p50_ms']} / **{bench['single']['p99_ms']} ms** | "
        "p99 ≤ 15 ms |",
        f"| single message with the GiNZA cascade, p50 / p99 | {bench['single_with_cascade']['p50_ms']} / "
        f"{bench['single_with_cascade']['p99_ms']} ms | |",
        f"| batch with the cascade on | {bench['batch_msgs_per_s_with_cascade']} messages/s | |",
        f"| engine load (skops file, tokenizer, word vectors, warm-up) | **{bench['model_load_s']} s** | ≤ 5 s |",
        f"| a second engine with GiNZA (process caches warm) | {bench['model_load_with_ginza_s']} s | |",
        f"| peak memory (both engines, GiNZA loaded) | **{bench['peak_rss_mb']} MB** | ≤ 1.5 GB |",
        f"| shipped model file | {size:.1f} MB | ≤ 30 MB |", "",
        "Throughput varies by about ±15 % between runs on this shared machine. "
        + ("The 500/s target is met; " if bench["batch_msgs_per_s"] >= 500 else "The 500/s target is not met; ")
        + ("a quarter of fugashi's bare tokenisation speed on the same input is met too."
           if bench["batch_msgs_per_s"] >= bench["fugashi_tokenise_msgs_per_s"] / 4 else
           "a quarter of fugashi's bare tokenisation speed on the same input is not: the engine tokenises "
           "too, then normalises, builds three n-gram views and word vectors, runs the rules and finds "
           "evidence for every flagged message (more than half of this input)."), "",
        "### What the GiNZA cascade adds", "",
        "`bench/cascade_effect.py`: the shipped model without and with the cascade "
        "(binary F1 / FPR on non-harassment / conduct macro-F1 / demand macro-F1):", "",
        "| data | cascade off | cascade on |", "|---|---|---|",
    ]
    for name, modes in casc.items():
        cells = [" / ".join(f"{modes[m][k]:.3f}" for k in ("harassment_f1", "fpr_non_harassment",
                                                            "conduct_macro_f1", "demand_macro_f1"))
                 for m in ("off", "on")]
        out.append(f"| {name} | {cells[0]} | {cells[1]} |")
    out += [
        "", "It changes the labels little or not at all, so it does not earn its ~50 ms per flagged message",
        "in a batch: it is off for `--input` and in evaluation, and on for `--text`, where a person reads",
        "the result. What it adds there is information: `demands` (what is demanded, in which form, from",
        "whom, with amounts from NER `Money`) and `targets` (named people and positions), with offsets into",
        "the original text; and a violence / threat / dogeza / restraint score whose only rule hits sit in a",
        "negated predicate (殺すつもりはない) is halved.",
    ]
    return "\n".join(out) + "\n"


def service_section() -> str:
    r = load("bench/results_service.json")
    p99s = sorted(x["p99_ms"] for x in r.get("rounds", [r]))
    return "\n".join([
        f"Load (`.venv/bin/python bench/bench_service.py`: rounds of {r['requests']} single-message `/v1/score`",
        f"requests with a customer id, from {r['clients']} concurrent keep-alive clients on the same {r['machine']},",
        f"{r['database']} store; the median of {len(p99s)} rounds by p99, whose p99 ranged {p99s[0]}-{p99s[-1]} ms;",
        "figures in `bench/results_service.json`):", "",
        "| measure | figure | target |", "|---|---|---|",
        f"| p50 / p99 latency | {r['p50_ms']} / **{r['p99_ms']} ms** | p99 ≤ 50 ms |",
        f"| throughput | {r['requests_per_s']} requests/s | |",
        f"| server CPU per request (both workers) | {r.get('server_cpu_ms_per_request', '–')} ms | |",
        f"| errors (all rounds) | {r['errors']} | 0 |",
        f"| ready after start | {r['ready_after_s']} s | ≤ 10 s |", "",
        "The clients share the two cores with the server. Every request is fully scored",
        "(normalisation, three n-gram views, word vectors, rules, evidence); requests that arrive",
        "while a worker is busy are scored together in one engine call (`KASUHARA_MICRO_BATCH`).",
        ("The p99 target is met" if r["p99_ms"] <= 50 else "The p99 target is not met yet")
        + (f" (load average {r['load_average'][0]}-{r['load_average'][-1]} during the run)."
           if r.get("load_average") else "."), ""])


def _machine(m: dict) -> str:
    return f"{m['cpu']}, {m['arch']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Python {m['python']}"


def scale_section() -> str:
    """Batch throughput (bench/bench_batch.py) and memory (bench/bench_memory.py), each with
    the machine it ran on."""
    out = []
    if os.path.exists(os.path.join(ROOT, "bench/results_batch.json")):
        b = load("bench/results_batch.json")
        load_avg = b.get("load_average", [])
        out += [
            f"Batch throughput (`.venv/bin/python bench/bench_batch.py`: {b['messages']} generated messages from the "
            "test split, customers with history, a few broken lines; the fastest of "
            f"{b.get('repeat', 1)} runs of each) on {_machine(b['machine'])}"
            + (f", load average {load_avg[0]}-{load_avg[-1]} during the run" if load_avg else "")
            + "; figures in `bench/results_batch.json`:", "",
            "| setup | end to end | messages/s | warm cluster | messages/s (warm) | same bytes as the CLI |",
            "|---|---|---|---|---|---|"]
        for r in b["runs"]:
            warm = (f"{r['warm_s']} s", str(r["msgs_per_s_warm"])) if r.get("warm_s") else ("", "")
            same = {True: "yes", False: "**no**"}.get(r.get("identical_to_cli"), "(reference)")
            out.append(f"| {r['setup']} | {r['end_to_end_s']} s | {r['msgs_per_s_end_to_end']} | {warm[0]} | "
                       f"{warm[1]} | {same} |")
        out += ["", "End to end includes starting the cluster and loading the engine on every worker; warm is a "
                "second run on the same cluster, the steady state of a long backfill. Workers are processes "
                "with one thread each: more workers than cores buy nothing."
                + (" **The machine was busy with other work during this run (load average above its "
                   f"{b['machine']['cores']} cores): the figures say little about scaling; rerun on a quiet "
                   "machine.**" if load_avg and max(load_avg) > b["machine"]["cores"] else ""), ""]
    if os.path.exists(os.path.join(ROOT, "bench/results_memory.json")):
        m = load("bench/results_memory.json")
        sv = m["service"]
        fmt = lambda xs: " / ".join(f"{x:.0f}" for x in xs)  # noqa: E731
        out += [
            f"Peak memory per process (`.venv/bin/python bench/bench_memory.py`, peak RSS) on {_machine(m['machine'])}; "
            "figures in `bench/results_memory.json`:", "",
            "| process | peak RSS (MB) |", "|---|---|",
            f"| single-process CLI, {m['messages']} messages | {m['cli_mb']:.0f} |",
            f"| Dask worker (each of {len(m['dask_worker_mb'])}), same archive | {fmt(m['dask_worker_mb'])} |",
            f"| service worker (each of {len(sv['worker_mb'])}), after {sv['requests']} requests | "
            f"{fmt(sv['worker_mb'])} |",
            f"| service supervisor (`kasuhara serve`, checks the model, then forks) | {sv['supervisor_mb']:.0f} |", ""]
    return "\n".join(out)


def _fill(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}{end}{tail}"


def main() -> int:
    path = os.path.join(ROOT, "README.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = _fill(text, "results", section())
    if os.path.exists(os.path.join(ROOT, "bench/results_service.json")):
        text = _fill(text, "service-results", service_section())
    if "<!-- scale-results:start -->" in text:
        text = _fill(text, "scale-results", scale_section())
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
