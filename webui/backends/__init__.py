"""Where generation jobs run (see ``base``): in this process (``local``, the default) or on
Ray Serve workers (``ray_serve``, ``--backend ray``)."""

from __future__ import annotations

from webui.backends.base import Backend, WorkerLost
from webui.backends.local import InProcessBackend

__all__ = ["Backend", "InProcessBackend", "WorkerLost", "make_backend"]


def make_backend(settings, manager, device_wrapper=None) -> Backend:
    """The backend ``settings.backend`` names; Ray is imported only when it is asked for."""
    if settings.backend == "ray":
        from webui.backends.ray_serve import RayBackend

        return RayBackend.from_settings(settings, manager)
    return InProcessBackend(manager, device_wrapper)
