"""Two worker processes, one database, many parallel requests for one customer: no row lost,
none duplicated — on SQLite (the default) and on the PostgreSQL at 127.0.0.1:5432."""
import concurrent.futures as cf
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kasuhara.service.storage import ScoredMessage, Store

pytestmark = pytest.mark.slow
PG = os.environ.get("KASUHARA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _post(base, body):
    req = urllib.request.Request(base + "/v1/score", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer k1"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, json.loads(r.read())


@pytest.mark.parametrize("url_kind", ["sqlite", "postgresql"])
def test_parallel_requests_for_one_customer_lose_nothing(tmp_path, url_kind):
    url = f"sqlite:///{tmp_path / 'k.db'}" if url_kind == "sqlite" else PG
    Store(url).migrate()
    port = _port()
    env = dict(os.environ, KASUHARA_API_KEYS="k1", KASUHARA_DATABASE_URL=url)
    srv = subprocess.Popen([sys.executable, "-m", "kasuhara.cli", "serve", "--port", str(port), "--workers", "2"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    customer = "c-" + uuid.uuid4().hex
    n = 60
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
        bodies = [{"text": f"返金はまだですか。{i}回目の連絡です。", "customer_id": customer,
                   "received_at": f"2026-10-0{1 + i // 24}T{i % 24:02d}:00:00+09:00"} for i in range(n)]
        with cf.ThreadPoolExecutor(8) as ex:
            statuses = [s for s, _ in ex.map(lambda b: _post(base, b), bodies)]
        assert statuses == [200] * n
    finally:
        srv.terminate()
        srv.wait(30)
    store = Store(url)
    with Session(store.engine) as s:
        count = s.execute(select(func.count()).select_from(ScoredMessage)
                          .where(ScoredMessage.customer_key == store.key(customer))).scalar_one()
    assert count == n
