"""A real server (uvicorn in a subprocess, the shipped model, a temp SQLite store with text kept)
and Chromium driven by Playwright. Skipped, with the reason, when /usr/bin/chromium or the
playwright package is missing."""
from __future__ import annotations

import html
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("KASUHARA_CHROMIUM", "/usr/bin/chromium")
KEY = "k-browser-test"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# messages the console is shown with: (ticket, customer, received_at, text)
SEED = [
    ("T-1001", "cust-a", "2026-11-28T09:10:00+09:00", "配送状況を教えてください。注文番号は 4521 です。"),
    ("T-1002", "cust-b", "2026-11-28T09:40:00+09:00", "商品が壊れていたので交換をお願いします。"),
    ("T-1003", "cust-c", "2026-11-28T10:05:00+09:00", "何度も電話しているのに対応が遅すぎる。責任者を出せ。"),
    ("T-1004", "cust-c", "2026-11-28T11:20:00+09:00",
     "担当者は本当に無能ですね。こんな対応しかできないなら辞めたらどうですか。"),
    ("T-1005", "cust-c", "2026-11-28T13:45:00+09:00",
     "いつまで待たせるんだ。今すぐ返金しろ。さもないとネットで晒してやるからな。"),
    ("T-1006", "cust-d", "2026-11-28T14:30:00+09:00", "ふざけるな。誠意を見せろ。土下座して謝れ。"),
]


def pytest_addoption(parser):
    parser.addoption("--screenshots", metavar="DIR", default=None,
                     help="write the console and widget screenshots (PNG) into DIR (the README's are docs/)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# a ticket system's page on another site (localhost; the service runs on 127.0.0.1) that frames
# the widget: the ``embedder`` fixture serves it, the service allows it in frame-ancestors
EMBEDDER_PORT = _free_port()
EMBEDDER = f"http://localhost:{EMBEDDER_PORT}"


class _TicketPage(http.server.BaseHTTPRequestHandler):
    """GET /?src=URL: a page with a ticket-sidebar iframe showing URL."""

    def do_GET(self):  # noqa: N802 (the http.server name)
        src = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("src", [""])[0]
        body = (f'<!doctype html><meta charset="utf-8"><h1>チケット</h1><iframe id="w" width="320" height="600" '
                f'src="{html.escape(src)}"></iframe>').encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def embedder():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", EMBEDDER_PORT), _TicketPage)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield EMBEDDER
    srv.shutdown()
    srv.server_close()


def call(base: str, method: str, path: str, body: dict | None = None, key: str | None = KEY) -> tuple[int, dict]:
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _serve(tmp: Path, store_text: bool):
    """Start uvicorn on a free port over a fresh SQLite store; yields the base URL."""
    port = _free_port()
    env = dict(os.environ, KASUHARA_STORE_TEXT=str(store_text).lower(),
               KASUHARA_DATABASE_URL=f"sqlite:///{tmp / 'k.db'}", KASUHARA_API_KEYS=KEY,
               KASUHARA_BADGE_SECRET="badge-secret-for-tests", KASUHARA_RATE_LIMIT_PER_MINUTE="100000",
               KASUHARA_FRAME_ANCESTORS=f"'self' {EMBEDDER}")
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "kasuhara.service.app:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server not ready within 120 s")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _seed(base: str, rows) -> None:
    for ticket, cust, at, text in rows:
        status, _ = call(base, "POST", "/v1/score", {"text": text, "id": f"m-{ticket}", "ticket_id": ticket,
                                                     "customer_id": cust, "received_at": at})
        assert status == 200
        time.sleep(0.3)  # the write-behind stores each before the next one asks for history


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """Base URL of a running service (API key ``KEY``, text stored) seeded with ``SEED``."""
    for base in _serve(tmp_path_factory.mktemp("console-server"), store_text=True):
        _seed(base, SEED)
        yield base


@pytest.fixture(scope="session")
def server_without_text(tmp_path_factory):
    """The same service with KASUHARA_STORE_TEXT off, seeded with the critical message only."""
    for base in _serve(tmp_path_factory.mktemp("console-server-nt"), store_text=False):
        _seed(base, [r for r in SEED if r[0] == "T-1005"])
        yield base


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    yield pg
    ctx.close()


@pytest.fixture
def console(page, server):
    """The console, logged in with the API key."""
    page.goto(server + "/console")
    page.get_by_label("APIキー", exact=True).fill(KEY)
    page.get_by_role("button", name="接続").click()
    page.locator("#queue .q-item").first.wait_for()
    return page
