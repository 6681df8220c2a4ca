"""The analysts' loop end to end, as a user runs it, on a small labelled set:
labels export -> (Label Studio annotates: simulated by writing its export format) -> labels
import -> train (quick recipe) -> evaluate --candidate (report) -> models promote (refused when
worse, then forced) -> a running service answers with the new version without a restart ->
rollback brings the old version back."""
import json
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from fastapi.testclient import TestClient

from kasuhara.cli import main
from kasuhara.models import artifact
from kasuhara.models.engine import Engine
from kasuhara.service.app import create_app
from kasuhara.service.settings import Settings
from kasuhara.training.corpus import load_split
from kasuhara.training.report import score_records

pytestmark = pytest.mark.slow
KEY = "k-e2e"
AUTH = {"Authorization": f"Bearer {KEY}"}
PNG = b"\x89PNG\r\n\x1a\n"


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return str(path)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("loop")
    written = [r for r in load_split("train") if r["source"] == "written"]
    files = {
        "train": write_jsonl(d / "train_small.jsonl", written[::6]),
        "dev": write_jsonl(d / "dev_small.jsonl", [r for r in load_split("dev") if r["source"] == "written"][::4]),
        "test": write_jsonl(d / "test_small.jsonl", [r for r in load_split("test") if r["source"] == "written"][::4]),
        # messages to label: not in the small base set; their corpus labels play the annotators' verdicts
        "pool": write_jsonl(d / "pool.jsonl", [{"id": r["id"], "text": r["text"]} for r in written[1::6][:120]]),
    }
    truth = {r["id"]: r["labels"] for r in written[1::6][:120]}
    return d, files, truth


def cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def annotate(tasks, truth):
    """What Label Studio exports after two annotators: the corpus labels as the first
    annotator's, a disagreeing second annotator on one task, a cancelled annotation on another."""
    out = []
    for n, t in enumerate(tasks):
        labels = truth[t["data"]["kasuhara_id"]]
        conduct = [l for l in labels if not l.startswith("demand_")]
        demand = [l for l in labels if l.startswith("demand_")]
        result = [{"id": f"r{n}c", "from_name": "labels_conduct", "to_name": "text", "type": "choices",
                   "value": {"choices": conduct}}] if conduct else []
        result += [{"id": f"r{n}d", "from_name": "labels_demand", "to_name": "text", "type": "choices",
                    "value": {"choices": demand}}] if demand else []
        anns = [{"id": 100 + n, "completed_by": 1, "was_cancelled": False, "result": result,
                 "created_at": "2026-11-20T01:00:00Z", "updated_at": "2026-11-20T01:00:00Z", "lead_time": 12.5}]
        if n == 0:
            other = "insult" if "insult" not in labels else "sexual"
            anns.append({"id": 900, "completed_by": 2, "was_cancelled": False, "created_at": "2026-11-20T02:00:00Z",
                         "result": [{"id": "x", "from_name": "labels_conduct", "to_name": "text", "type": "choices",
                                     "value": {"choices": [other]}}]})
        if n == 1:
            anns.append({"id": 901, "completed_by": 2, "was_cancelled": True, "result": []})
        out.append({"id": n + 1, "data": t["data"], "annotations": anns, "predictions": t["predictions"]})
    return out


def wait_for_version(client, version, deadline_s=60):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        r = client.post("/v1/score", json={"text": "返金しないならSNSで晒すからな"}, headers=AUTH)
        if r.json()["model_version"] == version:
            return r.json()
        time.sleep(0.1)
    raise AssertionError(f"the service did not switch to {version}")


def test_label_train_compare_promote_rollback(work, capsys):
    d, files, truth = work
    reg = d / "registry"
    tasks_path = d / "tasks.json"

    # 1. export: the messages most worth labelling, as Label Studio tasks, and the config
    rc, _, err = cli(capsys, "labels", "export", "--input", files["pool"], "--out", tasks_path, "--limit", 40)
    assert rc == 0, err
    tasks = json.loads(tasks_path.read_text("utf-8"))
    assert len(tasks) == 40 and {t["data"]["selection"] for t in tasks} <= {"uncertain", "stratified", "disagreement"}
    assert all(t["predictions"][0]["model_version"] for t in tasks)
    config = ET.fromstring((d / "tasks.labelling.xml").read_text("utf-8"))
    assert len(config.findall(".//Choice")) == 15

    # 2. Label Studio annotates (its JSON export), 3. import
    (d / "export.json").write_text(json.dumps(annotate(tasks, truth), ensure_ascii=False), "utf-8")
    labelled = d / "labelled.jsonl"
    rc, _, err = cli(capsys, "labels", "import", d / "export.json", "--out", labelled, "--base", files["train"])
    assert rc == 0, err
    rows = [json.loads(l) for l in labelled.read_text("utf-8").splitlines()]
    assert len(rows) == 39  # the task with two disagreeing annotators is left out ...
    conflicts = [json.loads(l) for l in (d / "labelled.conflicts.jsonl").read_text("utf-8").splitlines()]
    assert len(conflicts) == 1 and conflicts[0]["id"] == tasks[0]["data"]["kasuhara_id"]  # ... and reported
    assert "1 conflicts" in err and "cancelled annotation" in err
    assert all(r["labels"] == truth[r["id"]] for r in rows)

    # 4. train on the small base plus the imported labels (quick recipe)
    m1 = d / "m1"
    rc, _, err = cli(capsys, "train", "--quick", "--no-baselines", "--train-data", files["train"], "--dev-data",
                     files["dev"], "--test-data", files["test"], "--add", labelled, "--out", m1)
    assert rc == 0, err
    assert "training heads" in err and "saved" in err  # progress on the terminal
    card = json.loads((m1 / "model_card.json").read_text("utf-8"))
    added = card["training_data"]["added"]
    assert added[0]["file"] == "labelled.jsonl" and len(added[0]["sha256"]) == 64 and added[0]["records"] == 39
    version = card["version"]

    # reproducible: the same data and seed give the same data hash and the same predictions
    rc, _, err = cli(capsys, "train", "--quick", "--no-baselines", "--train-data", files["train"], "--dev-data",
                     files["dev"], "--test-data", files["test"], "--add", labelled, "--out", d / "m1-again")
    assert rc == 0, err
    again = json.loads((d / "m1-again" / "model_card.json").read_text("utf-8"))
    assert again["data_hash"] == card["data_hash"] and again["version"] == version
    test = load_split("test")[:60]
    s1 = score_records(Engine.from_model(artifact.load(m1)), test, "a")
    s2 = score_records(Engine.from_model(artifact.load(d / "m1-again")), test, "b")
    assert np.array_equal(s1.scores, s2.scores) and np.array_equal(s1.y_pred, s2.y_pred)

    # 5. compare with the serving (shipped) model: report with plots and tables
    report = d / "report"
    rc, out, err = cli(capsys, "evaluate", "--candidate", m1, "--baseline", "serving", "--registry", reg,
                       "--data", files["test"], "--report", report)
    assert rc == 0, err
    for png in ("pr_curves.png", "confusion_candidate.png", "confusion_serving.png", "calibration.png"):
        assert (report / png).read_bytes()[:8] == PNG
    page = (report / "index.html").read_text("utf-8")
    assert "身体的な攻撃" in page and page.count("data:image/png;base64,") == 4
    cmp = json.loads((report / "comparison.json").read_text("utf-8"))
    assert cmp["candidate"] == version and set(cmp["comparison"]["per_label"]) == set(card["labels"])

    # 6. a running service on the registry; promote (refused, then forced), rollback
    settings = Settings(api_keys=[KEY], database_url=f"sqlite:///{d / 'k.db'}", registry=str(reg),
                        registry_poll_s=0.2, rate_limit_per_minute=100_000)
    with TestClient(create_app(settings)) as client:
        shipped = client.get("/readyz").json()["model_version"]
        assert shipped != version
        rc, _, err = cli(capsys, "models", "register", m1, "--registry", reg)
        assert rc == 0, err
        rc, _, err = cli(capsys, "models", "promote", version, "--registry", reg, "--data", files["test"])
        assert rc == 1 and "昇格を拒否" in err and "F1: 現行" in err and "--force" in err
        assert client.get("/readyz").json()["model_version"] == shipped
        rc, out, err = cli(capsys, "models", "promote", version, "--registry", reg, "--data", files["test"], "--force")
        assert rc == 0, err
        result = wait_for_version(client, version)  # no restart
        assert len(result["scores"]) == 15
        assert client.get("/readyz").json()["model_version"] == version
        assert client.get("/v1/model", headers=AUTH).json()["version"] == version
        rc, out, err = cli(capsys, "models", "list", "--registry", reg)
        assert f"* {version}" in out and "(forced)" in out
        rc, out, err = cli(capsys, "models", "rollback", "--registry", reg)
        assert rc == 0 and shipped in out
        wait_for_version(client, shipped)
        rc, _, err = cli(capsys, "models", "rollback", "--registry", reg)
        assert rc == 2 and "nothing to roll back" in err
