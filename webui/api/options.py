"""A1111's ``/sdapi/v1/options``: the API's settings dict.

It starts as a fresh AUTOMATIC1111's dict (every default key and value, ``a1111_defaults``).
``sd_model_checkpoint`` selects the checkpoint API jobs use (a title, name or file name is
accepted) and loads it before the POST answers, as A1111 does. ``sd_vae`` takes ``Automatic``,
``None`` or a file of ``<models-dir>/VAE``. Every other key is kept as sent (so a client that
POSTs the whole dict back, as Open WebUI does, gets it back) and saved in
``<data-dir>/api-options.json``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from webui.api.a1111_defaults import A1111_DEFAULTS
from webui.api.catalog import checkpoint_title, known_hash, resolve_checkpoint, vae_names
from webui.api.common import ApiError

log = logging.getLogger(__name__)

#: keys computed on every GET; a POSTed value for them is ignored
READ_ONLY = frozenset({"sd_checkpoint_hash"})
VAE_AUTOMATIC = ("Automatic", "None")


def _defaults(settings) -> dict[str, Any]:
    """A fresh A1111's options (``a1111_defaults``), the output folders being this app's."""
    out = Path(settings.outputs_dir)
    values = copy.deepcopy(A1111_DEFAULTS)
    values.update({
        "outdir_txt2img_samples": str(out / "txt2img-images"),
        "outdir_img2img_samples": str(out / "img2img-images"),
        "outdir_extras_samples": str(out / "extras-images"),
        "outdir_txt2img_grids": str(out / "txt2img-grids"),
        "outdir_img2img_grids": str(out / "img2img-grids"),
        "outdir_init_images": str(out / "init-images"),
    })
    return values


def _storable(values: dict) -> bool:
    """True when ``values`` can be written as strict JSON in UTF-8 (and so read back)."""
    try:
        json.dumps(values, allow_nan=False, ensure_ascii=False, default=str).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return False
    return True


class ApiOptions:
    """The options dict of one app instance; thread-safe."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.path = Path(ctx.settings.data_dir) / "api-options.json"
        self._lock = threading.Lock()
        self._values = _defaults(ctx.settings)
        self._values.update(self._load())

    # -- persistence --------------------------------------------------------------------------
    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("ignoring unreadable %s", self.path)
            return {}
        if not isinstance(data, dict):
            return {}
        # a value that cannot be written back would break every GET: drop it
        return {k: v for k, v in data.items() if _storable({k: v})}

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self._values, indent=1, default=str), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            log.warning("cannot save API options to %s", self.path, exc_info=True)

    # -- reading --------------------------------------------------------------------------------
    def checkpoint(self) -> str | None:
        """The checkpoint API jobs use when a request names none: the app's choice."""
        return self.ctx.checkpoint.current()

    def vae(self) -> str | None:
        value = self._values.get("sd_vae")
        return None if value in VAE_AUTOMATIC or not value else value

    def value(self, key: str, default: Any = None) -> Any:
        """One setting as stored (``CLIP_stop_at_last_layers``...)."""
        with self._lock:
            return self._values.get(key, default)

    def get(self) -> dict[str, Any]:
        """The whole dict, with the selected checkpoint's title."""
        manager = self.ctx.manager
        with self._lock:
            values = dict(self._values)
        name = self.checkpoint()
        title, short = name, None
        if name is not None:
            try:
                info = manager.registry.get(name)
                title, short = checkpoint_title(manager, info), known_hash(manager, info)
            except LookupError:
                pass
        values["sd_model_checkpoint"] = title
        values["sd_checkpoint_hash"] = short
        return values

    # -- writing --------------------------------------------------------------------------------
    def check_vae(self, value: Any) -> str:
        """``Automatic``/``None`` or a VAE file name; ``ApiError(404)`` otherwise."""
        if value is None:
            return "Automatic"
        names = vae_names(self.ctx.manager, self.ctx.settings.models_dir)
        if value in VAE_AUTOMATIC or value in names:
            return value
        raise ApiError(404, f"VAE {value!r} not found; choose Automatic, None"
                       + "".join(f", {n}" for n in names))

    def update(self, changes: dict[str, Any], owner: str = "api") -> None:
        """Apply a (partial or whole) options dict; unknown keys are kept as sent.

        A new ``sd_model_checkpoint`` is loaded before this returns, in its turn on the
        device queue (after the job running now), so the next job starts at once. An unknown
        name is ``ModelNotFound`` (404), a file that cannot load ``ModelLoadError`` (400, with
        the loader's reason); then nothing changes, the previous selection included."""
        if not isinstance(changes, dict):
            raise ApiError(400, "options must be a JSON object")
        if not _storable(changes):
            raise ApiError(400, "options must be plain JSON: no NaN/Infinity and no invalid "
                                "characters (unpaired surrogates)")
        checkpoint = changes.get("sd_model_checkpoint")
        name = None
        if checkpoint is not None:
            name = resolve_checkpoint(self.ctx.manager, checkpoint).name
        vae = self.check_vae(changes["sd_vae"]) if "sd_vae" in changes else None
        if name is not None:
            self._load_checkpoint(name, owner)  # raises before anything changes
        with self._lock:
            for key, value in changes.items():
                if key in READ_ONLY or key == "sd_model_checkpoint":
                    continue
                self._values[key] = vae if key == "sd_vae" else value
            self._save()
            if name is not None and name != self.ctx.checkpoint.current():
                log.info("API checkpoint set to %s (loaded)", name)
            if name is not None:
                self.ctx.checkpoint.choose(name)

    def _load_checkpoint(self, name: str, owner: str) -> None:
        """Load ``name`` into the manager as A1111 does on a checkpoint change: through the
        device queue, so it never races a running job. Nothing to do when it is already the
        loaded one."""
        manager = self.ctx.manager
        current = manager.current
        if current is not None and current.info.name == name:
            return
        with self.ctx.jobs.queue.turn(owner):
            manager.preload(name)
