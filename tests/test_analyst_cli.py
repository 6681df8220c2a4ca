"""The analysts' commands against a store: agent feedback in, tasks out, drift, clear errors."""
import datetime as dt
import json

import pytest

from kasuhara.cli import main
from kasuhara.models.messages import message_from_dict
from kasuhara.service.storage import Store

UTC = dt.timezone.utc
TEXTS = ["ふざけるな！今すぐ土下座しに来い。", "商品が届きません。確認をお願いします。", "お前ら全員無能だな、ネットに書いてやる"]


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url, store_text=True)
    store.migrate()
    now = dt.datetime.now(UTC)
    verdicts = [["dogeza", "intimidation"], ["threat"], None]  # the agent calls message 2 a threat
    model = [["dogeza"], [], ["insult", "defamation"]]
    for k, text in enumerate(TEXTS):
        store.save_result({"harassment": bool(model[k]), "risk": 0.5, "level": "medium", "labels": model[k],
                           "scores": {}, "model_version": "v0"},
                          message_from_dict({"text": text, "id": f"m{k}"}), f"t{k}", now - dt.timedelta(hours=k))
        if verdicts[k] is not None:
            store.save_feedback({"id": f"m{k}", "labels": verdicts[k], "harassment": True, "annotator": "agent-1"},
                                "k", now)
    return url


def cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_import_agent_feedback_from_the_store(db, tmp_path, capsys):
    out = tmp_path / "fb.jsonl"
    rc, _, err = cli(capsys, "labels", "import", "--from-store", "--database", db, "--out", out)
    assert rc == 0, err
    rows = [json.loads(l) for l in out.read_text("utf-8").splitlines()]
    assert [(r["text"], r["labels"], r["source"]) for r in rows] == [
        (TEXTS[0], ["intimidation", "dogeza"], "feedback"), (TEXTS[1], ["threat"], "feedback")]
    assert "store feedback: 2 annotations" in err and TEXTS[0] not in err  # no message text on the terminal


def test_feedback_disagreeing_with_a_file_is_a_conflict(db, tmp_path, capsys):
    f = tmp_path / "mine.csv"
    f.write_text(f"text,labels\n{TEXTS[1]},\n", "utf-8")
    rc, _, err = cli(capsys, "labels", "import", f, "--from-store", "--database", db, "--out", tmp_path / "o.jsonl")
    assert rc == 0 and "1 conflicts" in err and "agent-1" in err
    assert [json.loads(l)["text"] for l in (tmp_path / "o.jsonl").read_text("utf-8").splitlines()] == [TEXTS[0]]


def test_drift_command(db, capsys):
    rc, out, _ = cli(capsys, "drift", "--database", db, "--json")
    rep = json.loads(out)
    assert rc == 0 and rep["bucket"] == "day" and sum(b["messages"] for b in rep["series"]) == 3


@pytest.mark.parametrize("args, message", [
    (["labels", "import", "--out", "x.jsonl"], "give files to import"),
    (["labels", "import", "nope.json", "--out", "x.jsonl"], "no such file"),
    (["labels", "export", "--out", "x.json"], "give --input"),
    (["models", "promote", "2020.01.01-nothere", "--registry", "{tmp}/r"], "no version"),
    (["models", "rollback", "--registry", "{tmp}/r"], "nothing to roll back"),
    (["drift", "--database", "postgresql+psycopg://nobody@127.0.0.1:1/none"], "store unreachable"),
])
def test_clear_errors(tmp_path, capsys, args, message):
    rc, _, err = cli(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert rc == 2 and message in err


@pytest.mark.slow
def test_export_from_the_store_puts_disagreements_first(db, tmp_path, capsys):
    out = tmp_path / "tasks.json"
    rc, _, err = cli(capsys, "labels", "export", "--from-store", "--database", db, "--out", out, "--limit", 3)
    assert rc == 0, err
    tasks = json.loads(out.read_text("utf-8"))
    assert len(tasks) == 3 and tasks[0]["data"]["selection"] == "disagreement"
    assert {t["data"]["text"] for t in tasks} == set(TEXTS)


def test_an_earlier_import_as_base_adds_nothing_twice(db, tmp_path, capsys):
    first = tmp_path / "first.jsonl"
    assert cli(capsys, "labels", "import", "--from-store", "--database", db, "--out", first)[0] == 0
    rc, _, err = cli(capsys, "labels", "import", "--from-store", "--database", db, "--out", tmp_path / "again.jsonl",
                     "--base", "train", "--base", first)
    assert rc == 0 and (tmp_path / "again.jsonl").read_text("utf-8") == ""
    assert "left out: 2 (already in the base corpus with the same labels)" in err


def test_train_with_added_labels_needs_an_output_folder(tmp_path, capsys):
    rc, _, err = cli(capsys, "train", "--add", tmp_path / "x.jsonl")
    assert rc == 2 and "--out" in err


@pytest.mark.parametrize("args", [
    ["--train-data", "test"],  # the test split as training data
    ["--train-data", "dev"],
])
def test_train_refuses_to_learn_the_evaluation_data(tmp_path, capsys, args):
    rc, _, err = cli(capsys, "train", "--quick", "--out", tmp_path / "m", *args)
    assert rc == 2 and "mostly the evaluation data" in err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("args, message", [
    (["models", "register", "--registry", "{tmp}/r"], "models register needs a trained model folder"),
    (["models", "promote", "--registry", "{tmp}/r"], "models promote needs a version"),
    (["drift", "--database", "not a url"], "is not a database URL"),
    (["labels", "export", "--from-store", "--database", "not a url", "--out", "{tmp}/t.json"], "not a database URL"),
    (["evaluate", "--candidate", "{tmp}/no-such-folder", "--registry", "{tmp}/r"],
     "is neither a model folder nor a registry version"),
    (["labels", "export", "--input", "{tmp}/sjis.jsonl", "--out", "{tmp}/t.json"], "not UTF-8"),
    (["labels", "export", "--input", "{tmp}", "--out", "{tmp}/t.json"], "Is a directory"),
])
def test_more_clear_errors(tmp_path, capsys, args, message):
    (tmp_path / "sjis.jsonl").write_bytes('{"text": "死ね"}\n'.encode("cp932"))
    rc, _, err = cli(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert rc == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["drift", "--days", "0"], ["drift", "--days", "-3"],
                                  ["labels", "export", "--input", "x.jsonl", "--out", "t.json", "--limit", "0"]])
def test_counts_must_be_positive(capsys, args):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2 and "at least 1" in capsys.readouterr().err


def test_unnamed_agents_who_disagree_are_a_conflict(db, tmp_path, capsys):
    store = Store(db, store_text=True)
    now = dt.datetime.now(UTC)
    for labels in (["intimidation"], []):  # two agents, no names given (the console sends none)
        store.save_feedback({"ticket_id": "t2", "labels": labels, "harassment": bool(labels)}, "k", now)
    out = tmp_path / "o.jsonl"
    rc, _, err = cli(capsys, "labels", "import", "--from-store", "--database", db, "--out", out)
    assert rc == 0 and "1 conflicts" in err and "feedback #" in err
    assert TEXTS[2] not in out.read_text("utf-8")  # left out, not settled by the latest verdict


def test_feedback_on_the_older_message_of_a_ticket_imports_with_that_message(db, tmp_path, capsys):
    store = Store(db, store_text=True)
    now = dt.datetime.now(UTC)
    later = "追加で連絡します。返金の件、早く対応してください。"  # the ticket's next message, scored later
    store.save_result({"harassment": False, "risk": 0.1, "level": "none", "labels": [], "scores": {},
                       "model_version": "v0"}, message_from_dict({"text": later}), "t2", now)
    row = next(r["row"] for r in store.stored_texts() if r["text"] == TEXTS[2])
    store.save_feedback({"ticket_id": "t2", "message": row, "labels": ["threat"], "harassment": True,
                         "annotator": "agent-2"}, "k", now + dt.timedelta(minutes=5))
    out = tmp_path / "o.jsonl"
    rc, _, err = cli(capsys, "labels", "import", "--from-store", "--database", db, "--out", out)
    assert rc == 0, err
    rows = {json.loads(l)["text"]: json.loads(l)["labels"] for l in out.read_text("utf-8").splitlines()}
    assert rows.get(TEXTS[2]) == ["threat"] and later not in rows
