"""Switching models without a restart: the reloader follows the registry's pointer, loads in
the background, keeps the old engine when the new one fails to load."""
import json
import time
from types import SimpleNamespace

import pytest

from kasuhara.models.artifact import ArtifactError
from kasuhara.models.registry import Registry
from kasuhara.service.reload import ModelReloader, serving_model_path
from kasuhara.service.settings import Settings


class FakeEngine:
    def __init__(self, version):
        self.version = version


def put_version(reg, version):
    d = reg.root / "versions" / version
    d.mkdir(parents=True)
    (d / "model.skops").write_bytes(b"placeholder")
    (d / "model_card.json").write_text(json.dumps({"version": version, "created": version}), "utf-8")


def setup(tmp_path, loader):
    reg = Registry(tmp_path / "reg")
    for v in ("v-1", "v-2"):
        put_version(reg, v)
    shipped = reg.base().version
    app = SimpleNamespace(state=SimpleNamespace(engine=FakeEngine(shipped), metrics=None))
    settings = Settings(registry=str(reg.root), registry_poll_s=0.05)
    return reg, app, ModelReloader(app, settings, loader=loader), shipped


def loader_of(calls, failing=()):
    def load(path, policy, cascade):
        calls.append(path.name)
        if path.name in failing:
            raise ArtifactError("corrupt")
        return FakeEngine(json.loads((path / "model_card.json").read_text("utf-8"))["version"])
    return load


def test_check_follows_promote_and_rollback(tmp_path):
    calls = []
    reg, app, rl, shipped = setup(tmp_path, loader_of(calls))
    assert rl.check() is False and calls == []  # nothing promoted: the shipped model serves
    reg.promote("v-1")
    old = app.state.engine
    assert rl.check() is True and app.state.engine.version == "v-1"
    assert old.version == shipped  # a request that took the old engine still holds it
    assert rl.check() is False and calls == ["v-1"]  # loaded once
    reg.rollback()
    assert rl.check() is True and app.state.engine.version == shipped


def test_a_version_that_fails_to_load_keeps_the_old_engine(tmp_path, caplog):
    calls = []
    reg, app, rl, shipped = setup(tmp_path, loader_of(calls, failing={"v-2"}))
    reg.promote("v-2")
    assert rl.check() is False and app.state.engine.version == shipped
    assert rl.check() is False and calls == ["v-2"]  # not retried until the pointer changes
    assert "model_switch_failed" in caplog.text
    reg.promote("v-1")
    assert rl.check() is True and app.state.engine.version == "v-1"


def test_the_poller_switches_in_the_background(tmp_path):
    reg, app, rl, _ = setup(tmp_path, loader_of([]))
    rl.start()
    try:
        reg.promote("v-2")
        deadline = time.monotonic() + 30
        while app.state.engine.version != "v-2" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert app.state.engine.version == "v-2"
    finally:
        rl.stop()


def test_serving_model_path(tmp_path):
    assert serving_model_path(Settings(model_path="/x/model")) == "/x/model"
    reg = Registry(tmp_path / "reg")
    assert serving_model_path(Settings(registry=str(reg.root))) == reg.base().path  # nothing promoted
    put_version(reg, "v-1")
    reg.promote("v-1")
    assert serving_model_path(Settings(registry=str(reg.root))) == reg.root / "versions" / "v-1"


def test_a_model_whose_version_differs_from_its_card_is_not_served(tmp_path):
    reg, app, rl, shipped = setup(tmp_path, lambda path, policy, cascade: FakeEngine("something-else"))
    reg.promote("v-1")
    assert rl.check() is False and app.state.engine.version == shipped


@pytest.mark.parametrize("damaged", ["v-1", "v-3"])
def test_a_damaged_card_of_another_version_does_not_stop_switching(tmp_path, damaged):
    """The poller reads only the pointer and the card it names: a broken card elsewhere in
    the registry must not leave the service stuck on the old model."""
    reg, app, rl, _ = setup(tmp_path, loader_of([]))
    put_version(reg, "v-3")
    reg.promote("v-2")
    (reg.root / "versions" / damaged / "model_card.json").write_text("{broken", "utf-8")
    assert rl.check() is True and app.state.engine.version == "v-2"
