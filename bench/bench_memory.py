#!/usr/bin/env python3
"""Peak memory (peak RSS, VmHWM) per process: the single-process CLI scoring an archive, a Dask
worker doing the same backfill, and a service worker under load. Prints the figures, writes
bench/results_memory.json.

    .venv/bin/python bench/bench_memory.py [--n 2000] [--requests 400]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from machine import describe, save_results, write_archive  # noqa: E402


def peak_mb(pid: int | str = "self") -> float:
    """The peak resident set (VmHWM) of a live process, in MB."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return round(kb / 1024, 1)


def cli_peak(src: str, out: str) -> float:
    p = subprocess.Popen([sys.executable, "-m", "kasuhara.cli", "score", "--input", src, "--output", out],
                         stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(p.pid, 0)
    return round(usage.ru_maxrss / 1024, 1)


def dask_worker_peaks(src: str, out: str, workers: int) -> list[float]:
    from distributed import Client, LocalCluster

    from kasuhara import backfill

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        backfill.run(client, src, out, partitions=4 * workers)
        return sorted(client.run(peak_mb).values())


def service_peaks(requests: int, texts: list[str]) -> dict:
    import psutil

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = dict(os.environ, KASUHARA_API_KEYS="mem-key", KASUHARA_RATE_LIMIT_PER_MINUTE="1000000",
               KASUHARA_DATABASE_URL=f"sqlite:///{tempfile.mkdtemp()}/mem.db")
    srv = subprocess.Popen([sys.executable, "-m", "kasuhara.cli", "serve", "--port", str(port), "--workers", "2"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def call(method: str, path: str, body: bytes | None = None) -> int:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request(method, path, body=body, headers={"Content-Type": "application/json",
                                                   "Authorization": "Bearer mem-key"})
        status = c.getresponse().status
        c.close()
        return status

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if call("GET", "/readyz") == 200:
                    break
            except OSError:
                pass
            if srv.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.2)
        bodies = [json.dumps({"text": texts[i % len(texts)], "customer_id": f"mem-{i % 40}"},
                             ensure_ascii=False).encode() for i in range(requests)]
        with cf.ThreadPoolExecutor(8) as ex:
            errors = sum(1 for st in ex.map(lambda b: call("POST", "/v1/score", b), bodies) if st != 200)
        workers = [c for c in psutil.Process(srv.pid).children(recursive=True) if c.memory_info().rss > 100 * 2**20]
        return {"supervisor_mb": peak_mb(srv.pid), "worker_mb": sorted(peak_mb(c.pid) for c in workers),
                "requests": requests, "errors": errors}
    finally:
        srv.terminate()
        srv.wait(30)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="messages in the generated archive")
    ap.add_argument("--requests", type=int, default=400, help="service requests before reading its memory")
    ap.add_argument("--json", default=os.path.join(HERE, "results_memory.json"))
    args = ap.parse_args()

    from kasuhara.training.corpus import load_split

    tmp = tempfile.mkdtemp(prefix="kasuhara-mem-")
    src = os.path.join(tmp, "archive.jsonl")
    write_archive(src, args.n)
    res = {"machine": describe(), "messages": args.n}
    res["cli_mb"] = cli_peak(src, os.path.join(tmp, "cli.jsonl"))
    print(f"single-process CLI: {res['cli_mb']} MB", flush=True)
    res["dask_worker_mb"] = dask_worker_peaks(src, os.path.join(tmp, "dask"), 2)
    print(f"Dask workers (2): {res['dask_worker_mb']} MB", flush=True)
    res["service"] = service_peaks(args.requests, [r["text"] for r in load_split("test")])
    print(f"service (2 workers): workers {res['service']['worker_mb']} MB, "
          f"supervisor {res['service']['supervisor_mb']} MB", flush=True)
    save_results(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
