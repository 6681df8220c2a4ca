"""The deployment files, checked without a Docker engine (none runs here, so the image is not
built in CI): the Dockerfile copies what exists and is not ignored, runs as a non-root user,
checks /readyz and starts a valid `kasuhara serve`; compose.yaml wires PostgreSQL, Redis and
several replicas together."""
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys

import pytest
import yaml

from kasuhara.cli import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = open(os.path.join(ROOT, "Dockerfile"), encoding="utf-8").read()
    text = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` (relative, '/'-separated) out of the build context:
    a pattern matching the path or one of its parent folders."""
    patterns = [p.strip().rstrip("/") for p in open(os.path.join(ROOT, ".dockerignore"), encoding="utf-8")
                if p.strip() and not p.startswith("#")]
    parts = path.split("/")
    prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    for pat in patterns:
        rx = re.escape(pat).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*") \
            .replace(r"\?", "[^/]")
        if any(re.fullmatch(rx, p) for p in prefixes):
            return True
    return False


def _exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def test_dockerfile_base_user_and_sources():
    ins = _dockerfile()
    froms = [a for i, a in ins if i == "FROM"]
    assert froms and all(f.startswith("python:3.11-slim") for f in froms)
    users = [a for i, a in ins if i == "USER"]
    assert users and users[-1] not in ("root", "0")
    for i, a in ins:
        if i == "COPY" and not a.startswith("--from"):
            *sources, _ = a.split()
            for src in sources:
                assert os.path.exists(os.path.join(ROOT, src)), src
                assert not _ignored(src), f"{src} is copied but .dockerignore leaves it out"


@pytest.mark.parametrize("path,ignored", [
    ("models/artifacts/model.skops", False),
    ("models/artifacts/model_card.json", False),
    ("models/data/taxonomy.json", False),
    ("models/data/lexicons/ldnoobw-ja/ja.txt", False),
    ("service/migrations/env.py", False),
    ("pyproject.toml", False),
    ("README.md", False),
    (".venv/bin/python", True),
    (".git/HEAD", True),
    ("tests/test_cli.py", True),
    ("nlp/__pycache__/x.pyc", True),
    ("kasuhara.db", True),
    ("training/corpus/data/train.jsonl", True),
    ("models/registry/current.json", True),
    ("service/web/console.js", False),
])
def test_dockerignore_keeps_the_model_and_drops_the_rest(path, ignored):
    assert _ignored(path) is ignored


def test_dockerfile_starts_a_valid_serve_with_a_readyz_healthcheck():
    ins = _dockerfile()
    cmd = _exec_form([a for i, a in ins if i == "CMD"][-1])
    assert cmd[0] == "kasuhara"
    args = build_parser().parse_args(cmd[1:])
    assert args.command == "serve" and args.host == "0.0.0.0"
    health = [a for i, a in ins if i == "HEALTHCHECK"]
    assert health and "/readyz" in health[-1]
    env = " ".join(a for i, a in ins if i == "ENV")
    assert "KASUHARA_API_KEYS" not in env  # never baked in: the operator sets it


def test_compose_postgres_redis_and_replicas():
    compose = yaml.safe_load(open(os.path.join(ROOT, "compose.yaml"), encoding="utf-8"))
    services = compose["services"]
    assert {"postgres", "redis", "api", "migrate"} <= set(services)
    api = services["api"]
    env = api["environment"]
    assert env["KASUHARA_DATABASE_URL"].startswith("postgresql+psycopg://") and "@postgres:" in env["KASUHARA_DATABASE_URL"]
    assert env["KASUHARA_REDIS_URL"].startswith("redis://redis:")
    assert "KASUHARA_API_KEYS" in env and ":?" in env["KASUHARA_API_KEYS"]  # compose refuses to start without
    assert api["deploy"]["replicas"] == "${KASUHARA_REPLICAS:-2}"  # two unless told otherwise
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    cmd = [c.replace("${KASUHARA_WORKERS:-2}", "2") for c in api["command"]]
    args = build_parser().parse_args(cmd[1:])
    assert args.command == "serve" and args.host == "0.0.0.0" and args.workers == 2
    proxy = services["proxy"]
    conf = proxy["volumes"][0].split(":")[0]
    assert os.path.exists(os.path.join(ROOT, conf)) and "api:8000" in open(os.path.join(ROOT, conf)).read()


def test_compose_migrate_command_runs_the_store_migration(tmp_path):
    """The one-shot `migrate` service's command, run here against a SQLite file."""
    compose = yaml.safe_load(open(os.path.join(ROOT, "compose.yaml"), encoding="utf-8"))
    cmd = compose["services"]["migrate"]["command"]
    assert cmd[0] == "python"
    db = tmp_path / "k.db"
    subprocess.run([sys.executable, *cmd[1:]], check=True, timeout=120,
                   env=dict(os.environ, KASUHARA_DATABASE_URL=f"sqlite:///{db}"))
    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master where type = 'table'")}
    assert {"scored_message", "feedback", "audit_event", "alembic_version"} <= tables


@pytest.mark.parametrize("package,folder", [("kasuhara.models", "models"), ("kasuhara.service", "service")])
def test_every_data_file_is_in_package_data(package, folder):
    """A non-editable install (the image's `pip wheel .`) carries only what package-data lists:
    every data file the package reads (model, taxonomy, lexicons, migrations, web pages) must
    match a glob. Files git tracks (a local model registry is not shipped)."""
    import fnmatch
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        globs = tomllib.load(f)["tool"]["setuptools"]["package-data"][package]
    tracked = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True)
    missing = []
    for path in tracked.stdout.splitlines():
        rel = path.removeprefix(folder + "/")
        if rel.endswith(".py") and "/" not in rel:
            continue  # modules of the package itself
        if not any(fnmatch.fnmatchcase(rel, g) and rel.count("/") == g.count("/") for g in globs):
            missing.append(rel)
    assert tracked.stdout and missing == []
