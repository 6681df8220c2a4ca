#!/usr/bin/env python3
"""Engine benchmark: batch throughput, single-message latency, model load time, peak memory.

Run on one core as the README reports it:
    taskset -c 0 .venv/bin/python bench/bench_engine.py [--model DIR] [--n 2000] [--json out.json]
Messages are the corpus test split's 100-300 character texts (cycled to --n), the same input for
fugashi tokenisation alone, which is the yardstick (the target is at least a quarter of its speed).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--single", type=int, default=500)
    ap.add_argument("--json")
    args = ap.parse_args()

    from kasuhara.models.engine import Engine
    from kasuhara.models.messages import Message
    from kasuhara.training.corpus import load_split

    texts = [r["text"] for r in load_split("test") if 100 <= len(r["text"]) <= 300]
    texts = (texts * (args.n // max(len(texts), 1) + 1))[:args.n]
    msgs = [Message(text=t) for t in texts]

    t0 = time.perf_counter()
    engine = Engine.load(args.model, cascade=False)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine_c = Engine.load(args.model, cascade=True)
    engine_c.deep._load()
    load_cascade_s = time.perf_counter() - t0

    import fugashi
    tagger = fugashi.Tagger()
    t0 = time.perf_counter()
    for t in texts:
        [w.feature.lemma for w in tagger(t)]
    fugashi_rate = len(texts) / (time.perf_counter() - t0)

    engine.score_batch(msgs[:256])  # warm-up
    t0 = time.perf_counter()
    for k in range(0, len(msgs), 256):
        engine.score_batch(msgs[k:k + 256])
    batch_rate = len(msgs) / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    for k in range(0, len(msgs), 256):
        engine_c.score_batch(msgs[k:k + 256])
    batch_rate_cascade = len(msgs) / (time.perf_counter() - t0)

    def latencies(eng, n):
        lat = []
        for m in msgs[:n]:
            t = time.perf_counter()
            eng.score(m)
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        return {"p50_ms": round(statistics.median(lat), 2), "p99_ms": round(lat[int(len(lat) * 0.99) - 1], 2)}

    single = latencies(engine, args.single)
    single_c = latencies(engine_c, args.single)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "affinity_cores": len(os.sched_getaffinity(0)),
        "messages": len(msgs), "mean_chars": round(statistics.mean(len(t) for t in texts), 1),
        "model_load_s": round(load_s, 2), "model_load_with_ginza_s": round(load_cascade_s, 2),
        "fugashi_tokenise_msgs_per_s": round(fugashi_rate),
        "batch_msgs_per_s": round(batch_rate), "batch_msgs_per_s_with_cascade": round(batch_rate_cascade),
        "single": single, "single_with_cascade": single_c, "peak_rss_mb": round(peak_mb),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
