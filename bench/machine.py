"""What a benchmark ran on (cores, RAM, CPU model, Python), the archive the batch benchmarks
score, and writing their results."""
from __future__ import annotations

import json
import os
import platform
import random


def describe() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    ram_gb = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
        ram_gb = round(kb / 2**20, 1)
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "arch": platform.machine(), "cores": os.cpu_count(), "ram_gb": ram_gb,
            "python": platform.python_version()}


def write_archive(path: str, n: int, seed: int = 0) -> int:
    """A ticket archive of ``n`` JSON Lines from the corpus test split: one message in five
    without a customer, the rest from n/8 customers writing over two weeks (so history and
    persistence are computed), every 500th line broken. Returns the number of lines."""
    from kasuhara.training.corpus import load_split

    rng = random.Random(seed)
    recs = load_split("test")
    customers = max(1, n // 8)
    with open(path, "w", encoding="utf-8") as f:
        for k in range(n):
            if k % 500 == 499:
                f.write('{"id": "broken", "text": \n')
                continue
            r = recs[k % len(recs)]
            msg = {"id": f"a-{k}", "text": r["text"], "channel": r["channel"]}
            if k % 5:
                msg["customer_id"] = f"cust-{rng.randrange(customers)}"
                msg["received_at"] = (f"2026-10-{1 + rng.randrange(14):02d}T{rng.randrange(24):02d}:"
                                      f"{rng.randrange(60):02d}:00+09:00")
            f.write(json.dumps(msg, ensure_ascii=False) + "\n")
    return n


def save_results(res: dict, path: str) -> None:
    """Write a benchmark's figures (with the machine) to ``path`` and print them."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1, ensure_ascii=False)
    print(json.dumps(res, indent=1, ensure_ascii=False))
