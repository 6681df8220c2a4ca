"""The registry: versions, the atomic current pointer, promote / rollback history, and the
promotion gate. (Registering a real trained model: tests/test_retrain_e2e.py.)"""
import json

import pytest

from kasuhara.models.artifact import default_model_dir
from kasuhara.models.registry import Registry, RegistryError, Regression, regressions, write_atomic

SHIPPED = json.loads((default_model_dir() / "model_card.json").read_text("utf-8"))["version"]


def put_version(reg: Registry, version: str, created: str) -> None:
    """A version folder as `register` leaves it (the model file's content is not read here)."""
    d = reg.root / "versions" / version
    d.mkdir(parents=True)
    (d / "model.skops").write_bytes(b"placeholder")
    (d / "model_card.json").write_text(json.dumps({"version": version, "created": created}), "utf-8")


@pytest.fixture
def reg(tmp_path):
    r = Registry(tmp_path / "reg")
    put_version(r, "2026.12.01-aaaaaaa", "2026-12-01T00:00:00+00:00")
    put_version(r, "2026.12.02-bbbbbbb", "2026-12-02T00:00:00+00:00")
    return r


def test_the_shipped_model_is_the_implicit_base(tmp_path):
    r = Registry(tmp_path / "empty")
    assert [v.version for v in r.versions()] == [SHIPPED]
    assert r.current().shipped and r.get("shipped").version == SHIPPED
    with pytest.raises(RegistryError, match="nothing to roll back"):
        r.rollback()


def test_promote_and_rollback_walk_the_history(reg):
    assert [v.version for v in reg.versions()] == [SHIPPED, "2026.12.01-aaaaaaa", "2026.12.02-bbbbbbb"]
    reg.promote("2026.12.01-aaaaaaa")
    reg.promote("2026.12.02-bbbbbbb", forced=True, detail={"regressions": ["x"]})
    assert reg.current().version == "2026.12.02-bbbbbbb"
    assert reg.pointer()["previous"] == [SHIPPED, "2026.12.01-aaaaaaa"]
    assert reg.rollback().version == "2026.12.01-aaaaaaa"
    assert reg.rollback().version == SHIPPED
    with pytest.raises(RegistryError, match=f"nothing to roll back to: no version served before {SHIPPED}"):
        reg.rollback()
    events = [(h["event"], h["version"], h.get("forced")) for h in reg.history()]
    assert events == [("promote", "2026.12.01-aaaaaaa", False), ("promote", "2026.12.02-bbbbbbb", True),
                      ("rollback", "2026.12.01-aaaaaaa", None), ("rollback", SHIPPED, None)]
    assert not list(reg.root.glob(".current.json.*"))  # no temporary files left behind


@pytest.mark.parametrize("action, message", [
    (lambda r: r.promote("2026.01.01-nothere"), "no version '2026.01.01-nothere'"),
    (lambda r: r.promote(SHIPPED), "already serving"),
    (lambda r: r.register(r.root / "missing"), "no model.skops"),
])
def test_refusals_say_why(reg, action, message):
    with pytest.raises(RegistryError, match=message):
        action(reg)


def test_register_refuses_what_is_not_a_model(reg, tmp_path):
    from kasuhara.models.artifact import ArtifactError

    src = tmp_path / "trained"
    src.mkdir()
    (src / "model.skops").write_bytes(b"not a zip")
    (src / "model_card.json").write_text(json.dumps({"version": "2026.12.03-ccccccc"}), "utf-8")
    with pytest.raises(ArtifactError, match="not a readable skops file"):
        reg.register(src)
    (src / "model_card.json").write_text(json.dumps({"version": "../../etc"}), "utf-8")
    with pytest.raises(RegistryError, match="not a usable version name"):
        reg.register(src)
    (src / "model_card.json").write_text(json.dumps({"version": SHIPPED}), "utf-8")
    with pytest.raises(RegistryError, match="shipped model's version"):
        reg.register(src)
    assert not (reg.root / "versions" / "2026.12.03-ccccccc").exists()


def test_write_atomic_replaces_whole_files(tmp_path):
    p = tmp_path / "current.json"
    write_atomic(p, "one")
    write_atomic(p, "two")
    assert p.read_text() == "two" and [x.name for x in tmp_path.iterdir()] == ["current.json"]


def metrics(f1s: dict, h_f1: float, fpr: float) -> dict:
    return {"per_label": {l: {"f1": f, "support": 0 if l == "rare" else 10} for l, f in f1s.items()},
            "harassment": {"f1": h_f1}, "fpr_non_harassment": fpr}


@pytest.mark.parametrize("cand, tolerance, expected", [
    (metrics({"threat": 0.80, "insult": 0.70, "rare": 0.0}, 0.90, 0.03), 0.02, []),  # equal
    (metrics({"threat": 0.79, "insult": 0.70, "rare": 0.0}, 0.89, 0.04), 0.02, []),  # within the tolerance
    (metrics({"threat": 0.70, "insult": 0.70, "rare": 0.0}, 0.90, 0.03), 0.02, [("f1", "threat")]),
    (metrics({"threat": 0.80, "insult": 0.70, "rare": 0.0}, 0.85, 0.03), 0.02, [("harassment_f1", None)]),
    (metrics({"threat": 0.80, "insult": 0.70, "rare": 0.0}, 0.90, 0.08), 0.02, [("fpr_non_harassment", None)]),
    (metrics({"threat": 0.70, "insult": 0.60, "rare": 0.0}, 0.90, 0.03), 0.2, []),  # a wide tolerance
])
def test_regressions(cand, tolerance, expected):
    serving = metrics({"threat": 0.80, "insult": 0.70, "rare": 0.5}, 0.90, 0.03)  # "rare": no test support
    assert [(r.metric, r.label) for r in regressions(serving, cand, tolerance)] == expected


def test_regression_message_names_the_label_in_japanese():
    text = Regression("f1", "threat", 0.8, 0.7).describe("脅迫")
    assert text == "threat（脅迫）F1: 現行 0.800 → 候補 0.700（-0.100）"
    assert "誤検知率" in Regression("fpr_non_harassment", None, 0.02, 0.05).describe()


# history.jsonl with damaged lines (a crash mid-append, a hand edit): the good history is kept
@pytest.mark.parametrize("lines, expected, skipped", [
    (['{"event": "promote", "version": "a"}', '{"event": "rollb'], ["a"], [2]),  # truncated last line
    (['{"event": "promote", "version": "a"}', "garbage", '{"event": "rollback", "version": "b"}'], ["a", "b"], [2]),
    (['[1, 2]', '{"event": "promote", "version": "a"}'], ["a"], [1]),  # JSON but not an event
    (['{"event": "promote", "version": "a"}', ""], ["a"], []),
])
def test_history_skips_corrupt_lines_and_says_which(tmp_path, caplog, lines, expected, skipped):
    r = Registry(tmp_path / "reg")
    r.root.mkdir()
    (r.root / "history.jsonl").write_text("\n".join(lines), "utf-8")
    assert [h["version"] for h in r.history()] == expected
    if skipped:
        assert f"history.jsonl: skipped {len(skipped)} corrupt line" in caplog.text
        assert f"lines {skipped}" in caplog.text
    else:
        assert "corrupt" not in caplog.text


def test_an_event_logged_after_a_truncated_line_is_not_lost(reg):
    reg.root.joinpath("history.jsonl").write_text('{"event": "promote", "version": "x"}\n{"event": "pro', "utf-8")
    reg.promote("2026.12.01-aaaaaaa")
    assert [h["version"] for h in reg.history()] == ["x", "2026.12.01-aaaaaaa"]


def counting_card_reads(monkeypatch):
    """Wrap the registry's own card reader: which folders' cards were read."""
    from kasuhara.models import registry as mod

    seen, real = [], mod._read_card
    monkeypatch.setattr(mod, "_read_card", lambda folder: (seen.append(folder.name), real(folder))[1])
    return seen


@pytest.mark.parametrize("promoted, expected_reads", [
    (None, ["model"]),  # nothing promoted: only the shipped card, once
    ("2026.12.02-bbbbbbb", ["2026.12.02-bbbbbbb"]),  # only the card the pointer names
    (SHIPPED, ["model"]),
])
def test_current_reads_only_the_card_it_serves(reg, monkeypatch, promoted, expected_reads):
    for i in range(3, 8):
        put_version(reg, f"2026.12.0{i}-ccccccc", f"2026-12-0{i}T00:00:00+00:00")
    if promoted == SHIPPED:
        reg.promote("2026.12.01-aaaaaaa")
        reg.rollback()
    elif promoted:
        reg.promote(promoted)
    shipped_name = reg.shipped_dir.name
    seen = counting_card_reads(monkeypatch)
    cur = reg.current()
    assert cur.version == (promoted or SHIPPED) and cur.shipped == (promoted in (None, SHIPPED))
    assert ["model" if s == shipped_name else s for s in list(seen)] == expected_reads


@pytest.mark.parametrize("promoted", ["2026.12.02-bbbbbbb", None])
def test_a_corrupt_card_of_another_version_does_not_break_current(reg, promoted):
    if promoted:
        reg.promote(promoted)
    (reg.root / "versions" / "2026.12.01-aaaaaaa" / "model_card.json").write_text("{not json", "utf-8")
    assert reg.current().version == (promoted or SHIPPED)
    assert reg.get("2026.12.02-bbbbbbb").card["version"] == "2026.12.02-bbbbbbb"


@pytest.mark.parametrize("pointer, message", [
    ('{"version": "2026.12.09-zzzzzzz"}', "no version '2026.12.09-zzzzzzz'"),
    ('{"version": "../../etc"}', "no version '../../etc'"),
    ("[1]", "not a pointer"),
    ('{"path": "/x"}', "not a pointer"),
    ("{oops", "not JSON"),
])
def test_a_bad_pointer_is_a_registry_error(reg, pointer, message):
    reg.root.joinpath("current.json").write_text(pointer, "utf-8")
    with pytest.raises(RegistryError, match=message):
        reg.current()


def test_get_matches_versions(reg):
    assert [reg.get(v.version) for v in reg.versions()] == reg.versions()
    assert reg.get("shipped") == reg.base()
