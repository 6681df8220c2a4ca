"""The model registry: versions (each a folder with ``model.skops`` and its card), a
``current`` pointer written atomically, and a history for rollback.

Layout of a registry folder::

    versions/<version>/model.skops, model_card.json, model_card.md
    current.json      {"version", "path", "previous": [older versions, newest last], "at"}
    history.jsonl     one line per register / promote / rollback (who, when, forced, why)

The shipped artifact is the implicit base version: serving when nothing was promoted, and a
version one can promote or roll back to like any other. The service polls ``current.json``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import artifact

POINTER = "current.json"
HISTORY = "history.jsonl"
VERSIONS = "versions"
ENV = "KASUHARA_REGISTRY"
SAFE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FILES = ("model.skops", "model_card.json", "model_card.md")

log = logging.getLogger("kasuhara.registry")


class RegistryError(RuntimeError):
    """A registry operation that cannot be done (the message says why)."""


@dataclass(frozen=True)
class Version:
    version: str
    path: Path  # the folder holding model.skops
    card: dict
    shipped: bool = False

    @property
    def created(self) -> str:
        return self.card.get("created", "")


def default_root() -> Path:
    """``KASUHARA_REGISTRY`` if set, else ``models/registry`` beside the shipped artifacts."""
    env = os.environ.get(ENV)
    return Path(env) if env else artifact.default_model_dir().parent / "registry"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _read_card(folder: Path) -> dict:
    p = folder / "model_card.json"
    if not p.is_file():
        raise RegistryError(f"{folder}: no model_card.json beside the model")
    try:
        return json.loads(p.read_text("utf-8"))
    except json.JSONDecodeError as e:
        raise RegistryError(f"{p}: not JSON ({e.msg})") from None


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees the old or the new file, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Registry:
    def __init__(self, root: str | Path | None = None, shipped: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.shipped_dir = Path(shipped) if shipped is not None else artifact.default_model_dir()

    # -- reading ------------------------------------------------------------------------------
    def base(self) -> Version:
        card = _read_card(self.shipped_dir)
        return Version(card.get("version", "shipped"), self.shipped_dir, card, shipped=True)

    def _registered(self, version: str) -> Version | None:
        """The registered version named ``version`` (reading only its card), or None."""
        d = self.root / VERSIONS / version
        if SAFE_VERSION.match(version) and (d / "model.skops").is_file():
            return Version(version, d, _read_card(d))
        return None

    def versions(self) -> list[Version]:
        """The shipped base first, then the registered versions, oldest first."""
        out = [self.base()]
        vdir = self.root / VERSIONS
        if vdir.is_dir():
            found = [Version(d.name, d, _read_card(d)) for d in vdir.iterdir()
                     if d.is_dir() and (d / "model.skops").is_file()]
            out += sorted(found, key=lambda v: (v.created, v.version))
        return out

    def get(self, version: str) -> Version:
        """One version by name ("shipped": the base), reading only that version's card."""
        v = None if version == "shipped" else self._registered(version)
        if v is not None:
            return v
        base = self.base()
        if version in ("shipped", base.version):
            return base
        known = ", ".join(v.version for v in self.versions())
        raise RegistryError(f"no version {version!r} in {self.root} (known: {known})")

    def pointer(self) -> dict | None:
        p = self.root / POINTER
        if not p.is_file():
            return None
        try:
            ptr = json.loads(p.read_text("utf-8"))
        except json.JSONDecodeError as e:
            raise RegistryError(f"{p}: not JSON ({e.msg})") from None
        if not isinstance(ptr, dict) or not isinstance(ptr.get("version"), str):
            raise RegistryError(f"{p}: not a pointer (expected an object with a 'version')")
        return ptr

    def current(self) -> Version:
        """The serving version: the pointer's, else the shipped base. Polled by the service:
        reads the pointer and only the card of the version it names (never the other
        versions' cards, so a damaged card elsewhere does not stop serving)."""
        ptr = self.pointer()
        return self.get(ptr["version"]) if ptr else self.base()

    def history(self) -> list[dict]:
        """The events of history.jsonl, oldest first. A corrupt line (a crash mid-append, a
        hand edit) is skipped, not fatal: the good history stays readable; the skipped line
        numbers and their count are logged as a warning naming the file."""
        p = self.root / HISTORY
        if not p.is_file():
            return []
        out, bad = [], []
        for no, line in enumerate(p.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                event = None
            if isinstance(event, dict):
                out.append(event)
            else:
                bad.append(no)
        if bad:
            log.warning(f"{p}: skipped {len(bad)} corrupt line(s): lines {bad}")
        return out

    # -- writing ------------------------------------------------------------------------------
    def _log(self, event: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        p = self.root / HISTORY
        # a truncated last line (a crash mid-append) must not swallow the new event
        sep = ""
        if p.is_file() and p.stat().st_size:
            with open(p, "rb") as f:
                f.seek(-1, os.SEEK_END)
                sep = "" if f.read(1) == b"\n" else "\n"
        with open(p, "a", encoding="utf-8") as f:
            f.write(sep + json.dumps({"at": _now(), **event}, ensure_ascii=False) + "\n")

    def register(self, folder: str | Path, actor: str = "") -> Version:
        """Copy a trained model folder (model.skops + card) into the registry under its
        card's version. Registering the same files again is a no-op; a different model under
        a version already taken is refused."""
        src = Path(folder)
        if src.is_file():
            src = src.parent
        if not (src / "model.skops").is_file():
            raise RegistryError(f"{src}: no model.skops (train one with `kasuhara train --out DIR`)")
        card = _read_card(src)
        version = card.get("version", "")
        if not SAFE_VERSION.match(version):
            raise RegistryError(f"{src}: the card's version {version!r} is not a usable version name")
        if version == self.base().version:
            raise RegistryError(f"{version} is the shipped model's version: it is already the base version")
        dest = self.root / VERSIONS / version
        if dest.exists():
            if _digest(dest / "model.skops") == _digest(src / "model.skops"):
                return Version(version, dest, card)
            raise RegistryError(f"version {version} is already registered with a different model file; "
                                "versions are named by date and training-data hash: retrain or remove the old one")
        model = artifact.load(src)  # refuse anything that is not a loadable kasuhara model
        if model.version != version:
            raise RegistryError(f"{src}: the card says version {version} but the model file holds {model.version}")
        tmp = Path(tempfile.mkdtemp(dir=self._versions_dir(), prefix=f".{version}."))
        try:
            for name in FILES:
                if (src / name).is_file():
                    shutil.copy2(src / name, tmp / name)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._log({"event": "register", "version": version, "from": str(src), "actor": actor})
        return Version(version, dest, card)

    def _versions_dir(self) -> Path:
        d = self.root / VERSIONS
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _point(self, v: Version, previous: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.root / POINTER, json.dumps(
            {"version": v.version, "path": str(v.path), "previous": previous, "at": _now()},
            ensure_ascii=False, indent=1) + "\n")

    def promote(self, version: str, forced: bool = False, detail: dict | None = None, actor: str = "") -> Version:
        """Make ``version`` the serving one (the caller has checked it; see ``regressions``)."""
        v = self.get(version)
        cur = self.current()
        if v.version == cur.version:
            raise RegistryError(f"{v.version} is already serving")
        ptr = self.pointer()
        previous = (ptr or {}).get("previous", []) + [cur.version]
        self._point(v, previous)
        self._log({"event": "promote", "version": v.version, "replaced": cur.version, "forced": forced,
                   "actor": actor, "detail": detail or {}})
        return v

    def rollback(self, actor: str = "") -> Version:
        """Serve the version that served before the last promotion."""
        ptr = self.pointer()
        if not ptr:
            raise RegistryError("nothing to roll back to: no promotion recorded in " + str(self.root))
        if not ptr.get("previous"):
            raise RegistryError(f"nothing to roll back to: no version served before {ptr['version']} "
                                f"in {self.root} (promote the one you want instead)")
        *older, prev = ptr["previous"]
        v = self.get(prev)
        self._point(v, older)
        self._log({"event": "rollback", "version": v.version, "replaced": ptr["version"], "actor": actor})
        return v


# -- the promotion gate ------------------------------------------------------------------------
@dataclass(frozen=True)
class Regression:
    metric: str  # "f1" of a label, "harassment_f1", "fpr_non_harassment"
    label: str | None
    serving: float
    candidate: float

    def describe(self, ja_label: str | None = None) -> str:
        what = f"{self.label}（{ja_label}）F1" if self.label else {
            "harassment_f1": "カスハラ判定 F1", "fpr_non_harassment": "誤検知率（非カスハラ）"}[self.metric]
        return f"{what}: 現行 {self.serving:.3f} → 候補 {self.candidate:.3f}（{self.candidate - self.serving:+.3f}）"


def regressions(serving: dict, candidate: dict, tolerance: float = 0.02) -> list[Regression]:
    """Where the candidate is worse than the serving model beyond ``tolerance``: each label's
    F1 (labels with test support), the binary harassment F1, and the false-positive rate on
    non-harassment (higher is worse). Metrics as ``training.metrics.evaluate_predictions``."""
    out = []
    for label, m in serving["per_label"].items():
        c = candidate["per_label"][label]
        if m["support"] > 0 and c["f1"] < m["f1"] - tolerance:
            out.append(Regression("f1", label, m["f1"], c["f1"]))
    if candidate["harassment"]["f1"] < serving["harassment"]["f1"] - tolerance:
        out.append(Regression("harassment_f1", None, serving["harassment"]["f1"], candidate["harassment"]["f1"]))
    if candidate["fpr_non_harassment"] > serving["fpr_non_harassment"] + tolerance:
        out.append(Regression("fpr_non_harassment", None, serving["fpr_non_harassment"],
                              candidate["fpr_non_harassment"]))
    return out
