"""The app's checkpoint choice: which checkpoint a job runs with when its request names none.

One object in the app context decides it, for every door: the checkpoint chosen last through
A1111's ``sd_model_checkpoint`` option, else ``--ckpt``, else the first one found. It never
follows "whatever was loaded last": a one-job override (A1111's ``override_settings``) or a
UI job on another checkpoint leaves it as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from webui.models.registry import is_hub_id


class CheckpointChoice:
    """The default checkpoint of new jobs; thread-safe."""

    def __init__(self, names: Callable[[], list[str]], ckpt_flag: str | None = None):
        self._names = names  # the base checkpoints on disk now (the registry's scan)
        self.ckpt_flag = ckpt_flag
        self._chosen: str | None = None
        self._lock = threading.Lock()

    def choose(self, name: str) -> None:
        """Make ``name`` the default (A1111's API sets ``sd_model_checkpoint``)."""
        with self._lock:
            self._chosen = name

    def current(self) -> str | None:
        """The chosen checkpoint while it is on disk, else ``--ckpt`` (a name on disk or a
        hub id), else the first checkpoint found; None when there is none."""
        names = self._names()
        with self._lock:
            chosen = self._chosen
        if chosen is not None and chosen in names:
            return chosen
        flag = self.ckpt_flag
        if flag and (flag in names or is_hub_id(flag)):
            return flag
        return names[0] if names else None
