"""Switching to a promoted model without downtime.

When ``KASUHARA_REGISTRY`` is set, a background thread polls the registry's ``current``
pointer every ``KASUHARA_REGISTRY_POLL_S`` seconds; on a new version it loads the new Engine
in that thread (requests keep being answered by the old one meanwhile) and rebinds
``app.state.engine`` in one assignment. A request holds the engine it started with, so
in-flight requests finish on the old model; every result names its ``model_version``.
"""
from __future__ import annotations

import json
import logging
import threading

from ..models.artifact import ArtifactError
from ..models.engine import Engine
from ..models.policy import PolicyError
from ..models.registry import Registry, RegistryError

log = logging.getLogger("kasuhara.service")


def serving_model_path(settings):
    """The model the service starts with: the registry's current version when a registry is
    set (the shipped model if nothing was promoted), else ``KASUHARA_MODEL_PATH``."""
    if not settings.registry:
        return settings.model_path
    return Registry(settings.registry).current().path


class ModelReloader:
    def __init__(self, app, settings, loader=Engine.load):
        self.app = app
        self.settings = settings
        self.loader = loader  # (model path, policy path, cascade) -> Engine
        self.registry = Registry(settings.registry)
        self.interval = settings.registry_poll_s
        self._stop = threading.Event()
        self._failed: str | None = None  # a version that failed to load: not retried until it changes
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def check(self) -> bool:
        """Load and switch to the registry's current version if it is not the serving one;
        True when the engine was switched. A version that cannot be loaded is logged and the
        old engine keeps serving."""
        with self._lock:
            try:
                wanted = self.registry.current()
            except RegistryError as e:
                log.warning(json.dumps({"event": "registry_unreadable", "error": str(e)[:300]}))
                return False
            serving = self.app.state.engine
            if wanted.version == serving.version or wanted.version == self._failed:
                return False
            try:
                engine = self.loader(wanted.path, self.settings.policy_path, self.settings.cascade)
            except (ArtifactError, PolicyError, OSError) as e:
                self._failed = wanted.version
                log.error(json.dumps({"event": "model_switch_failed", "version": wanted.version,
                                      "error": str(e)[:300]}))
                return False
            if engine.version != wanted.version:  # the card and the model file disagree: do not serve it
                self._failed = wanted.version
                log.error(json.dumps({"event": "model_switch_failed", "version": wanted.version,
                                      "error": f"the model file holds version {engine.version}"}))
                return False
            self._failed = None
            self.app.state.engine = engine  # one reference rebinding: atomic for readers
            metrics = getattr(self.app.state, "metrics", None)
            if metrics is not None:
                metrics.model.clear()
                metrics.model.labels(version=engine.version).set(1)
            log.warning(json.dumps({"event": "model_switched", "from": serving.version, "to": engine.version}))
            return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as e:  # never let the poller die silently: log and keep polling
                log.error(json.dumps({"event": "model_reload_error", "error": f"{type(e).__name__}: {str(e)[:200]}"}))

    def start(self) -> "ModelReloader":
        self._thread = threading.Thread(target=self._run, name="kasuhara-model-reloader", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def start_reloader(app, settings) -> ModelReloader | None:
    """Start polling when a registry is set (None otherwise)."""
    return ModelReloader(app, settings).start() if settings.registry else None
