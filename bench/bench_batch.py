#!/usr/bin/env python3
"""Batch throughput: the single-process CLI against `kasuhara score --engine dask` on a local
cluster of 1 and 2 worker processes, on one generated archive (corpus test split, customers
with history, a few broken lines). Prints the figures, writes bench/results_batch.json.

    .venv/bin/python bench/bench_batch.py [--n 3000] [--workers 1 2]

Each measure is run --repeat times and the fastest reported (the load average before and after
is recorded: on a shared machine the figures are noisy). "end to end" includes starting the cluster and loading the engine on every worker (and, for
the CLI, loading it once); "warm" is a second run on the same cluster into a new folder, the
steady state of a long backfill.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from machine import describe, save_results, write_archive  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="messages in the generated archive")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=2, help="runs of each measure; the fastest is reported")
    ap.add_argument("--json", default=os.path.join(HERE, "results_batch.json"))
    args = ap.parse_args()

    from distributed import Client, LocalCluster

    from kasuhara import backfill

    tmp = tempfile.mkdtemp(prefix="kasuhara-bench-")
    src = os.path.join(tmp, "archive.jsonl")
    n = write_archive(src, args.n)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")

    load_before = os.getloadavg()[0]
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        cli = subprocess.run([sys.executable, "-m", "kasuhara.cli", "score", "--input", src, "--output",
                              os.path.join(tmp, "cli.jsonl")], env=env, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
        if cli.returncode not in (0, 1):
            print("the single-process CLI failed", file=sys.stderr)
            return 1
    single = min(times)
    rows = [{"setup": "single process (kasuhara score)", "workers": 1, "end_to_end_s": round(single, 2),
             "msgs_per_s_end_to_end": round(n / single), "warm_s": None, "msgs_per_s_warm": None}]
    print(f"single process: {single:.1f} s, {n / single:.0f} messages/s", flush=True)

    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")  # inherited by the workers
    for w in args.workers:
        t0 = time.perf_counter()
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            out = backfill.run(client, src, os.path.join(tmp, f"dask-{w}-a"), partitions=4 * w)
            end_to_end = time.perf_counter() - t0
            warms = []
            for r in range(args.repeat):
                t1 = time.perf_counter()
                backfill.run(client, src, os.path.join(tmp, f"dask-{w}-warm{r}"), partitions=4 * w,
                             merged=os.path.join(tmp, f"dask-{w}.jsonl"))
                warms.append(time.perf_counter() - t1)
            warm = min(warms)
        same = open(os.path.join(tmp, f"dask-{w}.jsonl"), "rb").read() == open(os.path.join(tmp, "cli.jsonl"), "rb").read()
        rows.append({"setup": f"Dask, {w} worker process{'es' if w > 1 else ''}", "workers": w,
                     "end_to_end_s": round(end_to_end, 2), "msgs_per_s_end_to_end": round(n / end_to_end),
                     "warm_s": round(warm, 2), "msgs_per_s_warm": round(n / warm), "identical_to_cli": same,
                     "rows": out.rows})
        print(f"Dask, {w} workers: end to end {end_to_end:.1f} s ({n / end_to_end:.0f}/s), "
              f"warm {warm:.1f} s ({n / warm:.0f}/s), identical to the CLI: {same}", flush=True)

    res = {"machine": describe(), "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
           "messages": n, "repeat": args.repeat, "runs": rows,
           "note": "merged output compared byte for byte with the single-process CLI"}
    save_results(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
