"""Two worker processes, one database, many parallel requests for one customer: no row lost,
none duplicated — on SQLite (the default) and on the PostgreSQL at 127.0.0.1:5432; and two
workers sharing one per-key rate limit through the Redis at 127.0.0.1:6379."""
import concurrent.futures as cf
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kasuhara.service.storage import ScoredMessage, Store

pytestmark = pytest.mark.slow


def _port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _post(base, body, key="k1"):
    req = urllib.request.Request(base + "/v1/score", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@contextlib.contextmanager
def _serve(env):
    """`kasuhara serve --workers 2` on a free port, ready; its base URL."""
    port = _port()
    srv = subprocess.Popen([sys.executable, "-m", "kasuhara.cli", "serve", "--port", str(port), "--workers", "2"],
                           env=dict(os.environ, **env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert srv.poll() is None, srv.stderr.read().decode()[-500:]
            time.sleep(0.2)
        yield base
    finally:
        srv.terminate()
        srv.wait(30)



def test_parallel_requests_for_one_customer_lose_nothing(url):
    Store(url).migrate()
    customer = "c-" + uuid.uuid4().hex
    n = 60
    with _serve({"KASUHARA_API_KEYS": "k1", "KASUHARA_DATABASE_URL": url}) as base:
        bodies = [{"id": f"{customer}-m{i}", "text": f"返金はまだですか。{i}回目の連絡です。", "customer_id": customer,
                   "received_at": f"2026-10-0{1 + i // 24}T{i % 24:02d}:00:00+09:00"} for i in range(n)]
        with cf.ThreadPoolExecutor(8) as ex:
            statuses = [s for s, _ in ex.map(lambda b: _post(base, b), bodies)]
        assert statuses == [200] * n
    store = Store(url)
    with Session(store.engine) as s:
        count = s.execute(select(func.count()).select_from(ScoredMessage)
                          .where(ScoredMessage.customer_key == store.key(customer))).scalar_one()
        per_message = dict(s.execute(select(ScoredMessage.message_key, func.count())
                                     .where(ScoredMessage.customer_key == store.key(customer))
                                     .group_by(ScoredMessage.message_key)).all())
    assert count == n
    # every request stored exactly once: none lost, none written twice
    assert per_message == {store.key(b["id"]): 1 for b in bodies}


def test_two_workers_share_one_rate_limit_through_redis(tmp_path):
    """Each worker alone would allow `limit` requests a minute; through Redis both together do."""
    limit, key = 10, "rl-" + uuid.uuid4().hex
    env = {"KASUHARA_API_KEYS": key, "KASUHARA_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
           "KASUHARA_REDIS_URL": "redis://127.0.0.1:6379/0", "KASUHARA_RATE_LIMIT_PER_MINUTE": str(limit)}
    with _serve(env) as base:
        if time.time() % 60 > 45:  # the limit's windows are calendar minutes: start a burst inside one
            time.sleep(61 - time.time() % 60)
        window = int(time.time() // 60)
        with cf.ThreadPoolExecutor(8) as ex:
            statuses = list(ex.map(lambda i: _post(base, {"text": f"{i}回目の問い合わせです。"}, key)[0],
                                   range(3 * limit)))
        assert int(time.time() // 60) == window, "the burst crossed a minute boundary"
    assert sorted(statuses) == [200] * limit + [429] * (2 * limit)
