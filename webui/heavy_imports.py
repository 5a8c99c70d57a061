"""The transformers and diffusers names the app resolves lazily, imported once under a lock.

transformers' lazy module is not safe when two threads resolve names at once: the second
gets ``ImportError: cannot import name 'CLIPTokenizer'`` (seen on a fresh server when the
prompt and negative token counters, or a counter and the first model load, start together).
Everything that needs them from a request thread (the token counter, the model loader)
calls ``ensure()`` first: a second caller waits for the first instead of failing.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
# like sys.modules itself, this is per process: the imports happen once whatever the app
_imported = threading.Event()


def ensure() -> None:
    """Import the lazily resolved names (once per process; other callers wait)."""
    if _imported.is_set():
        return
    with _lock:
        if _imported.is_set():
            return
        import diffusers  # noqa: F401
        from diffusers import (AutoencoderKL, StableDiffusionXLImg2ImgPipeline,  # noqa: F401
                               StableDiffusionXLInpaintPipeline, StableDiffusionXLPipeline)
        from transformers import (CLIPTextModel, CLIPTextModelWithProjection,  # noqa: F401
                                  CLIPTokenizer)
        _imported.set()

