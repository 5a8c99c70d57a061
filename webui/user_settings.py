"""Settings a user changes in the Settings tab, persisted as JSON in the data folder."""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from webui.config import Limits
from webui.imageio import FORMATS
from webui.request import (RequestError, as_float, as_int, check_cfg, check_sampler, check_size,
                           check_steps)

log = logging.getLogger(__name__)

#: A1111-style file-name tokens
TOKENS = {"[seed]", "[steps]", "[cfg]", "[width]", "[height]", "[sampler]", "[model_name]",
          "[model_hash]", "[prompt_words]", "[date]", "[datetime]"}


@dataclass
class UserSettings:
    """Defaults for new jobs and how files are written."""

    default_model: str | None = None
    default_refiner: str | None = None
    sampler: str = "Euler a"
    steps: int = 20
    cfg_scale: float = 7.0
    # None: the checkpoint's own native size (1024 for SDXL, 128 for the demo model)
    width: int | None = None
    height: int | None = None
    output_format: str = "png"  # png | jpeg | webp
    filename_pattern: str = "[seed]"  # after the 5-digit number, as A1111's default
    live_preview_every: int = 5  # steps between live previews; 0 = off

    def validate(self, limits: Limits) -> "UserSettings":
        """Raise ``RequestError`` (plain words) for a value the app cannot use; the defaults
        for new jobs are checked against the same ``limits`` as every request."""
        check_sampler(self.sampler)
        check_steps(as_int("steps", self.steps), limits)
        check_cfg(as_float("CFG scale", self.cfg_scale), limits)
        for name in ("width", "height"):
            if getattr(self, name) is not None:
                check_size(name, as_int(name, getattr(self, name)), limits)
        if self.output_format not in FORMATS:
            raise RequestError(f"output format must be one of {', '.join(FORMATS)}")
        unknown = set(re.findall(r"\[[^\]]*\]", self.filename_pattern)) - TOKENS
        if unknown:
            raise RequestError(f"unknown file-name token(s) {', '.join(sorted(unknown))}; "
                               f"known: {', '.join(sorted(TOKENS))}")
        if re.search(r"[/\\]|\.\.", self.filename_pattern):
            raise RequestError("the file-name pattern cannot contain / \\ or ..")
        every = as_int("live preview interval", self.live_preview_every)
        if not 0 <= every <= limits.max_steps:
            raise RequestError(
                f"live preview interval must be between 0 and {limits.max_steps} steps")
        return self


def format_filename(pattern: str, values: dict) -> str:
    """Fill ``[token]``s from ``values``; keep file names safe and short."""
    def sub(m: re.Match) -> str:
        key = m.group(0)[1:-1]
        if key == "prompt_words":
            words = re.findall(r"[\w-]+", str(values.get("prompt", "")))[:8]
            return "_".join(words)
        return str(values.get(key, ""))

    name = re.sub(r"\[[a-z_]+\]", sub, pattern)
    name = re.sub(r"[^\w.,+=-]+", "_", name).strip("._")
    return name[:120]


class SettingsStore:
    """Loads and saves ``UserSettings`` atomically; a broken file falls back to defaults."""

    def __init__(self, path: Path, limits: Limits | None = None):
        self.path = Path(path)
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._current = self._load()

    def _load(self) -> UserSettings:
        if not self.path.is_file():
            return UserSettings()
        try:
            data = json.loads(self.path.read_text())
            known = {f.name for f in fields(UserSettings)}
            saved = UserSettings(**{k: v for k, v in data.items() if k in known})
            return saved.validate(self.limits)
        except (ValueError, TypeError, RequestError) as exc:
            log.warning("settings file %s unusable (%s); using defaults", self.path, exc)
            return UserSettings()

    @property
    def current(self) -> UserSettings:
        return self._current

    def save(self, **changes) -> UserSettings:
        """Validate ``changes`` on top of the current settings and write them to disk."""
        with self._lock:
            new = UserSettings(**{**asdict(self._current), **changes}).validate(self.limits)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(new), indent=2))
            tmp.replace(self.path)
            self._current = new
            return new


def preview_interval(ctx) -> int:
    """Steps between live previews for jobs of ``ctx``: the Settings value (0 = off)."""
    return int(ctx.user_settings.current.live_preview_every)
