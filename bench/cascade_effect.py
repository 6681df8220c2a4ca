#!/usr/bin/env python3
"""What the GiNZA cascade adds: the shipped model with and without it on dev, test and,
when given, a probe set. Writes bench/results_cascade.json.

    .venv/bin/python bench/cascade_effect.py [--probe ../shared/data/dev-probe/messages.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe")
    ap.add_argument("--json", default=os.path.join(HERE, "results_cascade.json"))
    args = ap.parse_args()
    from kasuhara.models.engine import Engine
    from kasuhara.training.evaluate import evaluate_engine, load_data

    engines = {"off": Engine.load(cascade=False), "on": Engine.load(cascade=True)}
    sets = {"dev": "dev", "test": "test"}
    if args.probe:
        sets["dev-probe"] = args.probe
    out = {}
    for name, spec in sets.items():
        data = load_data(spec)
        out[name] = {}
        for mode, eng in engines.items():
            m = evaluate_engine(eng, data)
            out[name][mode] = {"harassment_f1": round(m["harassment"]["f1"], 4),
                               "fpr_non_harassment": round(m["fpr_non_harassment"], 4),
                               "conduct_macro_f1": round(m["conduct_macro_f1"], 4),
                               "demand_macro_f1": round(m["demand_macro_f1"], 4)}
        print(name, json.dumps(out[name]))
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
