"""`kasuhara score` JSON Lines contract, run as a user runs it."""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run(args, stdin=None):
    return subprocess.run([sys.executable, "-m", "kasuhara.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_score_jsonl_keeps_every_line_in_order(tmp_path):
    good = [{"id": "a", "text": "お世話になっております。納期を教えてください。"},
            {"id": "b", "text": "ふざけるな！！土下座しろ", "customer_id": "c1",
             "received_at": "2026-10-01T10:00:00+09:00"}]
    bad = ['{"id": "e"}', '{"id": "f", "text": 12}', "not json", '{"id": "g", "text": ""}',
           '{"id": "h", "text": "x", "received_at": "yesterday"}', "", "[" * 100000, "[]"]
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join([json.dumps(g, ensure_ascii=False) for g in good] + bad) + "\n", "utf-8")
    out = tmp_path / "out.jsonl"
    p = run(["score", "--input", str(inp), "--output", str(out)])
    assert p.returncode == 1
    rows = [json.loads(l) for l in out.read_text("utf-8").splitlines()]
    assert len(rows) == 10
    assert [r["id"] for r in rows] == ["a", "b", "e", "f", None, "g", "h", None, None, None]
    assert rows[0]["harassment"] is False and rows[1]["harassment"] is True
    assert rows[1]["history"] == {"messages_24h": 0, "messages_7d": 0, "persistence": 0.0}
    assert [r["error"]["code"] for r in rows[2:]] == ["missing_text", "invalid_text", "invalid_json",
                                                       "empty_text", "invalid_received_at", "empty_line",
                                                       "invalid_json", "invalid_type"]
    assert "could not be scored" in p.stderr


def test_score_stdin_to_stdout_exit_zero_when_all_good():
    p = run(["score", "--input", "-", "--output", "-"], stdin='{"id": "z", "text": "ありがとうございました"}\n')
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["id"] == "z"


def test_score_text_is_human_readable():
    p = run(["score", "--text", "ふざけるな、土下座しろ"])
    assert p.returncode == 0, p.stderr
    assert "レベル" in p.stdout and "土下座" in p.stdout


def test_invalid_utf8_gets_an_error_record_not_a_crash(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b'{"id": "u", "text": "\xff\xfe bad bytes"}\n{"id": "v", "text": "\xe3\x81\x82"}\n')
    p = run(["score", "--input", str(inp), "--output", "-"])
    rows = [json.loads(l) for l in p.stdout.splitlines()]
    assert rows[0]["error"]["code"] == "invalid_unicode" and rows[1]["id"] == "v"
    assert p.returncode == 1


def test_missing_model_is_a_clear_error(tmp_path):
    p = run(["score", "--text", "こんにちは", "--model", str(tmp_path)])
    assert p.returncode == 2 and "no model" in p.stderr


def test_serve_refuses_a_public_address_without_api_keys():
    import os

    env = {k: v for k, v in os.environ.items() if k != "KASUHARA_API_KEYS"}
    p = subprocess.run([sys.executable, "-m", "kasuhara.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 2 and "refusing" in p.stderr


def test_serve_stops_on_a_corrupt_model(tmp_path):
    import os

    bad = tmp_path / "model.skops"
    bad.write_bytes(b"garbage")
    env = dict(os.environ, KASUHARA_MODEL_PATH=str(bad), KASUHARA_API_KEYS="k")
    p = subprocess.run([sys.executable, "-m", "kasuhara.cli", "serve", "--port", "1"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 2 and "not a readable skops file" in p.stderr


def test_serve_stops_on_a_malformed_database_url():
    import os

    env = dict(os.environ, KASUHARA_DATABASE_URL="not a url", KASUHARA_API_KEYS="k")
    p = subprocess.run([sys.executable, "-m", "kasuhara.cli", "serve", "--port", "1"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 2 and "KASUHARA_DATABASE_URL is not a database URL" in p.stderr
    assert "Traceback" not in p.stderr
