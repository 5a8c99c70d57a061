"""The extension host: finds, loads and isolates extensions, and runs their hooks and scripts.

Isolation: an extension that fails to import or whose ``setup`` raises is listed with its
error and takes no part; a hook that raises or runs past ``hook_timeout`` fails only the job
it ran for (``ExtensionError``, a plain message naming the extension) and disables that
extension until the next start, with the reason shown in the Extensions tab, the log and
``/sdapi/v1/extensions``. Extensions run in-process: installing one is trusting its code.
Which ones are switched off is kept in ``<data-dir>/extensions.json`` (applied at next start).
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from webui.errors import RequestError
from webui.extensions.api import Extension, JobView, Script

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sdxl_webui.extensions"
HOOK_TIMEOUT = 30.0  # seconds a hook may take before its extension is switched off


class ExtensionError(RequestError):
    """An extension failed this job (its hook raised or was too slow)."""


class ScriptArgsError(RequestError):
    """A script's arguments do not fit its model (HTTP 422); ``errors``: pydantic's list."""

    def __init__(self, message: str, errors: list | None = None):
        super().__init__(message)
        self.errors = errors or []


@dataclass
class ExtensionStatus:
    """One extension as the Extensions tab and ``/sdapi/v1/extensions`` show it."""

    name: str
    path: str  # its folder, or "entry point <module:attr>"
    version: str = ""
    enabled: bool = True  # the user's switch (applied at next start)
    state: str = "loaded"  # loaded | disabled | error
    error: str = ""
    scripts: list[str] = field(default_factory=list)


def _read_version(folder: Path | None, module) -> str:
    version = getattr(module, "__version__", None) or getattr(module, "VERSION", None)
    if version:
        return str(version)
    if folder is not None:
        for name in ("version.txt", "VERSION"):
            path = folder / name
            if path.is_file():
                return path.read_text(encoding="utf-8").strip()[:40]
    return ""


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class ExtensionHost:
    """The loaded extensions of one app, their registrations and their statuses."""

    def __init__(self, state_file: Path | None = None, hook_timeout: float = HOOK_TIMEOUT,
                 settings: dict | None = None):
        self.state_file = state_file
        self.hook_timeout = hook_timeout
        self.settings = settings or {}  # {extension name: its settings dict}
        self.statuses: dict[str, ExtensionStatus] = {}
        self.loaded: dict[str, Extension] = {}
        self._lock = threading.Lock()

    # -- loading --------------------------------------------------------------------------
    @classmethod
    def load(cls, folders: list[Path], state_file: Path | None = None, *,
             entry_points: bool = True, hook_timeout: float = HOOK_TIMEOUT) -> ExtensionHost:
        """Load every extension folder under ``folders`` (each ``<name>/extension.py``) and,
        with ``entry_points``, every installed package's ``sdxl_webui.extensions`` entry."""
        host = cls(state_file, hook_timeout)
        state = host._read_state()
        host.settings = state.get("settings", {})
        disabled = set(state.get("disabled", []))
        for root in folders:
            root = Path(root)
            if not root.is_dir():
                continue
            for folder in sorted(p for p in root.iterdir() if p.is_dir()):
                if (folder / "extension.py").is_file() and not folder.name.startswith((".", "_")):
                    host._load_one(folder.name, str(folder), disabled,
                                   lambda f=folder: _import_folder(f))
        if entry_points:
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                host._load_one(ep.name, f"entry point {ep.value}", disabled, ep.load)
        return host

    def _load_one(self, name: str, where: str, disabled: set, get_setup) -> None:
        if name in self.statuses:
            self.statuses[name].error = (f"another extension named {name!r} is loaded "
                                         f"already; {where} was skipped")
            log.warning("extension %s: duplicate name (%s skipped)", name, where)
            return
        status = ExtensionStatus(name, where, enabled=name not in disabled)
        self.statuses[name] = status
        if not status.enabled:
            status.state = "disabled"
            return
        try:
            setup = get_setup()
            module = sys.modules.get(getattr(setup, "__module__", ""), None)
            if not callable(setup):  # a module object: its setup function
                module, setup = setup, getattr(setup, "setup", None)
            if not callable(setup):
                raise TypeError("it has no setup(ext) function")
            folder = Path(where) if not where.startswith("entry point") else None
            status.version = _read_version(folder, module)
            ext = Extension(name, self.settings.get(name))
            setup(ext)
            for script in ext.registered.scripts:
                if not isinstance(script, Script):
                    raise TypeError(f"script {script!r} is not a webui.extensions.Script")
            self.loaded[name] = ext
            status.scripts = [s.title for s in ext.registered.scripts]
            log.info("extension %s loaded (%s)", name, where)
        except BaseException as exc:  # noqa: BLE001 - a broken extension never stops the app
            status.state = "error"
            status.error = f"failed to load: {_short(exc)}"
            log.error("extension %s failed to load: %s\n%s", name, _short(exc),
                      traceback.format_exc(limit=5))

    # -- the switch (next start) ----------------------------------------------------------
    def _read_state(self) -> dict:
        if self.state_file is None or not self.state_file.is_file():
            return {}
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError) as exc:
            log.warning("extensions state %s unreadable (%s): all enabled", self.state_file, exc)
            return {}

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Switch ``name`` on or off from the next start (written at once)."""
        if name not in self.statuses:
            raise RequestError(f"no extension named {name!r}")
        if self.state_file is None:
            raise RequestError("this app keeps no extension settings")
        with self._lock:
            state = self._read_state()
            off = set(state.get("disabled", []))
            (off.discard if enabled else off.add)(name)
            state["disabled"] = sorted(off)
            tmp = self.state_file.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
            os.replace(tmp, self.state_file)
            self.statuses[name].enabled = enabled

    # -- what is registered ---------------------------------------------------------------
    def active(self) -> list[Extension]:
        return [e for n, e in self.loaded.items() if self.statuses[n].state == "loaded"]

    def scripts(self, mode: str | None = None, alwayson: bool | None = None) -> list[Script]:
        out = []
        for ext in self.active():
            for s in ext.registered.scripts:
                if (mode is None or mode in s.modes) and (alwayson is None
                                                          or s.alwayson == alwayson):
                    out.append(s)
        return out

    def script(self, title: str) -> Script | None:
        key = (title or "").strip().lower()
        return next((s for s in self.scripts() if s.title.lower() == key), None)

    def tabs(self) -> list[tuple[str, str, Any]]:
        return [(e.name, t, b) for e in self.active() for t, b in e.registered.tabs]

    def routers(self) -> list:
        return [e.registered.router for e in self.active() if e.registered.router is not None]

    def registry(self, kind: str) -> dict[str, Any]:
        """``samplers``, ``upscalers`` or ``preprocessors`` of every active extension."""
        out: dict[str, Any] = {}
        for e in self.active():
            out.update(getattr(e.registered, kind))
        return out

    def owner_of(self, script: Script) -> str:
        for name, e in self.loaded.items():
            if any(s is script for s in e.registered.scripts):
                return name
        return "?"

    # -- script arguments -----------------------------------------------------------------
    def script_args(self, script: Script, raw, where: str) -> BaseModel:
        """``raw`` (a list in the model's field order, as A1111 sends ``script_args`` /
        ``args``, a dict, or an already made model) as the script's validated model."""
        model = script.args
        if isinstance(raw, model):
            return raw
        if raw is None:
            raw = {}
        if isinstance(raw, (list, tuple)):
            names = list(model.model_fields)
            if len(raw) > len(names):
                raise ScriptArgsError(
                    f"{where}: {script.title!r} takes at most {len(names)} arguments "
                    f"({', '.join(names)}), got {len(raw)}")
            raw = dict(zip(names, raw))
        if not isinstance(raw, dict):
            raise ScriptArgsError(f"{where}: arguments of {script.title!r} must be a list or "
                                  f"an object, got {type(raw).__name__}")
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors]
            raise ScriptArgsError(f"{where} ({script.title}): " + "; ".join(parts),
                                  [{**e, "loc": [where, *e["loc"]]} for e in errors]) from None

    def prepare(self, req):
        """``req`` with its scripts checked and their arguments validated (models in
        ``script_args`` and ``alwayson_scripts``); ``ScriptArgsError`` otherwise."""
        script_args = req.script_args
        if req.script:
            script = self.script(req.script)
            if script is None or script.alwayson:
                names = [s.title for s in self.scripts(req.mode, alwayson=False)]
                raise ScriptArgsError(f"script_name: no script {req.script!r}; choose one "
                                      f"of: {', '.join(names) or 'none installed'}")
            if req.mode not in script.modes:
                raise ScriptArgsError(f"script_name: {script.title!r} does not run in "
                                      f"{req.mode}")
            script_args = self.script_args(script, req.script_args, "script_args")
        alwayson = {}
        for title, raw in (req.alwayson_scripts or {}).items():
            script = self.script(title)
            if script is None or not script.alwayson:
                # A1111 ignores always-on entries of scripts it does not have (clients send
                # their whole set); so do we, but say so in the log
                log.info("alwayson_scripts: no always-on script %r here: ignored", title)
                continue
            args = raw.get("args", []) if isinstance(raw, dict) else raw
            alwayson[script.title] = self.script_args(script, args,
                                                      f"alwayson_scripts.{title}.args")
        return replace(req, script_args=script_args, alwayson_scripts=alwayson)

    # -- running hooks, isolated ----------------------------------------------------------
    def _call(self, ext_name: str, what: str, fn, *args):
        """``fn(*args)`` within ``hook_timeout``; a raise or a timeout fails the job
        (``ExtensionError``) and switches the extension off until the next start."""
        box: dict = {}

        def work():
            try:
                box["value"] = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - reported below
                box["error"] = exc
                box["trace"] = traceback.format_exc(limit=6)

        thread = threading.Thread(target=work, daemon=True, name=f"ext-{ext_name}")
        started = time.monotonic()
        thread.start()
        thread.join(self.hook_timeout)
        if thread.is_alive():
            self._fail(ext_name, f"its {what} took longer than {self.hook_timeout:g} s")
            raise ExtensionError(f"extension {ext_name!r} failed this job: its {what} took "
                                 f"longer than {self.hook_timeout:g} s (it is switched off "
                                 "until the next start)")
        if "error" in box:
            exc = box["error"]
            if isinstance(exc, RequestError):  # a plain refusal: the job's, not a bug
                raise exc
            self._fail(ext_name, f"its {what} raised {_short(exc)}", box.get("trace", ""))
            raise ExtensionError(f"extension {ext_name!r} failed this job: its {what} raised "
                                 f"{_short(exc)} (it is switched off until the next start)")
        log.debug("extension %s %s took %.3f s", ext_name, what, time.monotonic() - started)
        return box.get("value")

    def _fail(self, name: str, why: str, trace: str = "") -> None:
        status = self.statuses.get(name)
        if status is not None:
            status.state = "error"
            status.error = why
        log.error("extension %s switched off: %s\n%s", name, why, trace)

    def _hooks(self, point: str):
        for ext in self.active():
            for fn in ext.registered.hooks[point]:
                yield ext.name, fn

    def on_request(self, job: JobView, req):
        """Each ``on_request`` hook, then each always-on script's ``process``; returns the
        (maybe changed) request."""
        for name, fn in self._hooks("request"):
            out = self._call(name, "request hook", fn, job, req)
            req = _checked_request(name, out, req)
        for script in self.scripts(req.mode, alwayson=True):
            if script.title in (req.alwayson_scripts or {}):
                out = self._call(self.owner_of(script), f"script {script.title!r}",
                                 script.process, job, req, req.alwayson_scripts[script.title])
                req = _checked_request(self.owner_of(script), out, req)
        return req

    def before_generation(self, job: JobView, req) -> None:
        for name, fn in self._hooks("before_generation"):
            self._call(name, "before-generation hook", fn, job, req)

    def on_image(self, job: JobView, req, image):
        """Each picture through the ``on_image`` hooks and the always-on scripts'
        ``postprocess_image``; returns the (maybe replaced) picture."""
        from PIL import Image

        def take(name, out, current):
            if out is None:
                return current
            if not isinstance(out, Image.Image):
                self._fail(name, f"its image hook returned {type(out).__name__}, not a picture")
                raise ExtensionError(f"extension {name!r} failed this job: its image hook "
                                     "returned something that is not a picture")
            return out

        for name, fn in self._hooks("image"):
            image = take(name, self._call(name, "image hook", fn, job, req, image), image)
        for script in self.scripts(req.mode, alwayson=True):
            if script.title in (req.alwayson_scripts or {}):
                owner = self.owner_of(script)
                image = take(owner, self._call(owner, f"script {script.title!r}",
                                               script.postprocess_image, job, req,
                                               req.alwayson_scripts[script.title], image),
                             image)
        return image

    def on_job_done(self, job: JobView, req, images: list) -> None:
        """After the job's pictures are saved; a failure here is logged (the job is done)."""
        for name, fn in self._hooks("job_done"):
            try:
                self._call(name, "job-done hook", fn, job, req, images)
            except RequestError as exc:
                log.warning("%s", exc)

    def run_script(self, job: JobView, req):
        """The request's selectable script makes the job's pictures (the whole job: no time
        limit). A raise fails this job, naming the extension, and switches it off."""
        script = self.script(req.script)
        name = self.owner_of(script)
        try:
            return script.run(job, req, req.script_args)
        except RequestError:
            raise
        except Exception as exc:  # noqa: BLE001 - a script bug fails its job only
            self._fail(name, f"script {script.title!r} raised {_short(exc)}",
                       traceback.format_exc(limit=6))
            raise ExtensionError(f"extension {name!r} failed this job: script "
                                 f"{script.title!r} raised {_short(exc)}") from None


def _checked_request(name: str, out, req):
    if out is None:
        return req
    if type(out) is not type(req):
        raise ExtensionError(f"extension {name!r} failed this job: its request hook returned "
                             f"{type(out).__name__}, not a request")
    return out


def _import_folder(folder: Path):
    """Import ``folder/extension.py`` as module ``sdxl_ext_<name>.extension`` of a package made
    of the folder (so its sibling modules import relatively); returns its ``setup``."""
    pkg = f"sdxl_ext_{folder.name.replace('-', '_')}"
    for loaded in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
        del sys.modules[loaded]  # another app (or test) may have loaded a same-named folder
    init = folder / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(
            pkg, init, submodule_search_locations=[str(folder)])
    else:
        spec = importlib.machinery.ModuleSpec(pkg, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
    package = importlib.util.module_from_spec(spec)
    sys.modules[pkg] = package
    if init.is_file():
        spec.loader.exec_module(package)
    module = importlib.import_module(f"{pkg}.extension")
    setup = getattr(module, "setup", None)
    if setup is None:
        raise TypeError(f"{folder / 'extension.py'} has no setup(ext) function")
    return setup
