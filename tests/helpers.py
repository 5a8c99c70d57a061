"""Small builders shared by tests."""

from __future__ import annotations

import base64
import socket
from pathlib import Path


def small_request(**kw):
    """A request small enough for a CPU (64 px, 2 steps), on the first tiny checkpoint (the
    engine runs what a request names; ``model=None`` leaves it to the app's choice)."""
    from webui.request import GenerationRequest

    base = dict(prompt="a photo of a cat", width=64, height=64, steps=2, seed=1234,
                sampler="Euler", model="tiny-sdxl-a")
    base.update(kw)
    return GenerationRequest(**base)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: --max-image-pixels of the ``limited_app`` fixture: 64x64 fits, 100x100 does not
UPLOAD_LIMIT = 96 * 96


def b64(data: bytes) -> str:
    """Raw base64 of ``data``, as the HTTP APIs take images."""
    return base64.b64encode(data).decode()


def write(folder: Path, name: str, data: bytes) -> str:
    """Write ``data`` to ``folder/name``; its path as a string (for ``handle_file``)."""
    path = folder / name
    path.write_bytes(data)
    return str(path)


class Snapshot:
    """History rows and output files before a refused job, to compare after it."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.count = ctx.store.count()
        self.files = self._files()

    def _files(self) -> set[Path]:
        out = Path(self.ctx.settings.outputs_dir)
        return {p for p in out.rglob("*") if p.is_file() and ".thumbs" not in p.parts} \
            if out.exists() else set()

    def assert_nothing_written(self):
        assert self.ctx.store.count() == self.count, "a refused job left a history row"
        new = self._files() - self.files
        assert not new, f"a refused job left files: {sorted(map(str, new))}"
        staging = Path(self.ctx.settings.outputs_dir) / ".staging"
        assert not staging.exists() or not any(staging.iterdir()), "files left in .staging"


def still_serving(app) -> None:
    """A good img2img job runs right after a refusal and is recorded (``app``: the
    ``limited_app`` fixture's tuple)."""
    from gradio_client import handle_file

    from tests.engine.modes_helpers import encode, noise_image

    ctx, client, _, folder = app
    before = ctx.store.count()
    good = write(folder, "good.png", encode(noise_image(seed=2)))
    gallery, _, _ = client.predict(prompt="x", image=handle_file(good), width=64, height=64,
                                   steps=2, seed=1, api_name="/img2img")
    assert len(gallery) == 1 and ctx.store.count() == before + 1
