#!/usr/bin/env python3
"""Service load benchmark: start `kasuhara serve`, send single-message /v1/score requests from
N concurrent clients (keep-alive connections, as a ticketing system's pool would), print p50 /
p99 latency and errors, write bench/results_service.json. Traffic stays on 127.0.0.1 and stops
by itself.

    .venv/bin/python bench/bench_service.py [--clients 8] [--requests 2000] [--database-url URL]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of the server process and its worker processes (Linux /proc):
    the cost per request, which other load on the machine disturbs far less than latency."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--database-url")
    ap.add_argument("--repeat", type=int, default=3, help="load rounds against the same server; the median is reported")
    ap.add_argument("--json", default=os.path.join(HERE, "results_service.json"))
    args = ap.parse_args()

    from kasuhara.training.corpus import load_split

    texts = [r["text"] for r in load_split("test")]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    db = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    env = dict(os.environ, KASUHARA_API_KEYS="bench-key", KASUHARA_DATABASE_URL=db,
               KASUHARA_RATE_LIMIT_PER_MINUTE="1000000")
    cmd = [sys.executable, "-m", "kasuhara.cli", "serve", "--port", str(port)]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    t_start = time.perf_counter()
    srv = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready_s = None
    try:
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    ready_s = time.perf_counter() - t_start
                    break
            except OSError:
                pass
            if srv.poll() is not None:
                print("server exited", file=sys.stderr)
                return 1
            time.sleep(0.1)

        per_client = args.requests // args.clients

        def client(k: int):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            lat, errors = [], 0
            for i in range(per_client):
                body = json.dumps({"text": texts[(k * per_client + i) % len(texts)],
                                   "customer_id": f"bench-{(k * per_client + i) % 50}"}, ensure_ascii=False).encode()
                t = time.perf_counter()
                try:
                    conn.request("POST", "/v1/score", body=body, headers={
                        "Content-Type": "application/json", "Authorization": "Bearer bench-key"})
                    r = conn.getresponse()
                    r.read()
                    if r.status != 200:
                        errors += 1
                except OSError:
                    errors += 1
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                lat.append((time.perf_counter() - t) * 1000)
            return lat, errors

        rounds = []
        load_avg = [round(os.getloadavg()[0], 2)]  # other work on the machine skews latency: say how much
        for _ in range(args.repeat):
            t0, cpu0 = time.perf_counter(), server_cpu_s(srv.pid)
            with cf.ThreadPoolExecutor(args.clients) as ex:
                out = list(ex.map(client, range(args.clients)))
            wall = time.perf_counter() - t0
            cpu = server_cpu_s(srv.pid) - cpu0
            lat = sorted(x for l, _ in out for x in l)
            rounds.append({"p50_ms": round(lat[len(lat) // 2], 1), "p99_ms": round(lat[int(len(lat) * 0.99) - 1], 1),
                           "max_ms": round(lat[-1], 1), "requests_per_s": round(len(lat) / wall),
                           "server_cpu_ms_per_request": round(cpu * 1000 / len(lat), 2),
                           "errors": sum(e for _, e in out), "requests": len(lat)})
    finally:
        srv.terminate()
        srv.wait(30)
    med = sorted(rounds, key=lambda r: r["p99_ms"])[len(rounds) // 2]
    load_avg.append(round(os.getloadavg()[0], 2))
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
           "database": db.split(":")[0], "clients": args.clients, **med,
           "errors": sum(r["errors"] for r in rounds), "rounds": rounds, "ready_after_s": round(ready_s, 2),
           "load_average": sorted(load_avg)}
    print(json.dumps(res, indent=1))
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
