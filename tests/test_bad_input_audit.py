"""Audit of the "Bad input" lists of issue 4 (generation modes) and issue 6 (gallery history):
the cases no other test covered, driven through the real app paths.

Each refusal is checked three ways: a clear message, the app still serving (a good job runs
right after), and nothing half-written (no new history row, no new file under outputs/, an
empty ``outputs/.staging``).

Already covered elsewhere (not repeated here): mask of another size (engine), empty and
all-white masks (engine), odd image modes and EXIF rotation (``open_image`` unit tests),
0-byte / non-image / truncated uploads to ``/img2img`` (UI), hostile search strings, missing
file on delete, corrupt/foreign databases, PNG Info without or with malformed metadata.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.engine.modes_helpers import box_mask, noise_image, pixels
from tests.helpers import small_request

LIMIT = 96 * 96  # --max-image-pixels of the served app below: 64x64 fits, 100x100 does not


# -- helpers -----------------------------------------------------------------------------------

def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def odd_image(mode: str, size=(64, 64)) -> tuple[bytes, str]:
    """(file bytes, suffix) of a picture stored in ``mode``: grayscale, RGBA, palette, CMYK or
    16-bit, as users' files come."""
    base = noise_image(*size, seed=21)
    if mode == "I;16":
        arr = (np.asarray(base.convert("L"), dtype=np.uint16) * 257)
        return encode(Image.fromarray(arr)), ".png"
    if mode == "CMYK":
        return encode(base.convert("CMYK"), "JPEG", quality=95), ".jpg"
    if mode == "RGBA":
        img = base.convert("RGBA")
        img.putalpha(200)
        return encode(img), ".png"
    return encode(base.convert(mode)), ".png"


def rotated_jpeg(size=(64, 32), orientation: int = 6) -> bytes:
    """A JPEG stored ``size`` wide whose EXIF says: rotate 90 degrees clockwise to display."""
    img = noise_image(*size, seed=8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", quality=95, exif=exif.tobytes())


def displayed(data: bytes) -> Image.Image:
    from PIL import ImageOps

    with Image.open(io.BytesIO(data)) as img:
        return ImageOps.exif_transpose(img).convert("RGB")


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


# -- the served app (UI + API) with a small --max-image-pixels --------------------------------

@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    """(ctx, gradio Client, httpx client, folder for upload files) of one served app."""
    import httpx
    from gradio_client import Client

    from tests.helpers import free_port
    from webui.app import create_context, serve
    from webui.config import Limits, Settings

    work = tmp_path_factory.mktemp("audit")
    settings = Settings(models_dir=tiny_models_dir, outputs_dir=work / "outputs",
                        data_dir=work / "data", device="cpu", api=True,
                        limits=Limits(max_image_pixels=LIMIT))
    ctx = create_context(settings)
    server = serve(ctx, block=False, port=free_port())
    files = work / "files"
    files.mkdir()
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as http:
            yield ctx, Client(server.local_url, verbose=False), http, files
    finally:
        server.close()


def write(folder: Path, name: str, data: bytes) -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


def still_serving(app_) -> None:
    """A good img2img job runs right after a refusal and is recorded."""
    from gradio_client import handle_file

    ctx, client, _, folder = app_
    before = ctx.store.count()
    good = write(folder, "good.png", encode(noise_image(seed=2)))
    gallery, _, _ = client.predict(prompt="x", image=handle_file(good), width=64, height=64,
                                   steps=2, seed=1, api_name="/img2img")
    assert len(gallery) == 1 and ctx.store.count() == before + 1


# == issue 4 ===================================================================================

@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
@pytest.mark.parametrize("job", ["img2img", "inpaint", "outpaint"])
def test_odd_image_modes_run_every_image_mode(ctx, mode, job):
    """Grayscale, RGBA, palette, CMYK and 16-bit uploads run img2img, inpaint and outpaint on
    the engine (the unit test only converted them)."""
    from webui.imaging import open_image

    data, _ = odd_image(mode)
    image = open_image(data)
    extra = {"inpaint": dict(mask=box_mask((64, 64), (16, 16, 48, 48))),
             "outpaint": dict(outpaint_right=8)}.get(job, {})
    out = ctx.jobs.run(small_request(mode=job, init_image=image, **extra))
    (gen,) = out.result.images
    assert gen.image.mode == "RGB"
    assert gen.image.size == ((72, 64) if job == "outpaint" else (64, 64))
    assert ctx.store.count() == 1 and out.saved[0].path.is_file()


@pytest.mark.parametrize("mode", ["1", "L", "LA", "RGBA", "P", "I;16"])
def test_masks_in_odd_modes_repaint_only_the_white_area(ctx, mode):
    """A mask uploaded as 1-bit, grayscale, grayscale+alpha, RGBA, palette or 16-bit PNG means
    the same area: pixels far outside it come back unchanged."""
    from webui.imaging import open_image

    base = box_mask((64, 64), (16, 16, 48, 48))
    if mode == "I;16":
        mask = Image.fromarray(np.asarray(base, dtype=np.uint16) * 257)
    elif mode in ("LA", "RGBA"):
        mask = base.convert(mode)
        mask.putalpha(255)
    else:
        mask = base.convert(mode)
    image = noise_image(seed=4)
    out = ctx.jobs.run(small_request(mode="inpaint", init_image=image, mask_blur=0,
                                     mask=open_image(encode(mask))))
    diff = np.abs(pixels(out.result.images[0].image) - pixels(image)).max(axis=-1)
    outside = np.ones((64, 64), bool)
    outside[8:56, 8:56] = False
    assert diff[outside].max() == 0, "pixels outside the mask changed"
    assert diff[20:44, 20:44].mean() > 5, "the masked area was not repainted"


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_odd_image_modes_upload_through_the_img2img_endpoint(app, mode):
    from gradio_client import handle_file

    ctx, client, _, folder = app
    data, suffix = odd_image(mode)
    before = ctx.store.count()
    gallery, _, _ = client.predict(prompt="x", image=handle_file(write(folder, f"m{suffix}",
                                                                        data)),
                                   width=64, height=64, steps=2, seed=3, api_name="/img2img")
    assert len(gallery) == 1 and ctx.store.count() == before + 1


def _inpaint_keeps_outside(out: Image.Image, expected: Image.Image, mask: Image.Image,
                           blur: int) -> None:
    from webui.imaging import blur_mask

    assert out.size == expected.size
    outside = np.asarray(blur_mask(mask, blur)) == 0
    diff = np.abs(pixels(out) - pixels(expected)).max(axis=-1)
    assert diff[outside].max() <= 2, "the EXIF rotation was not applied to the init image"


def test_exif_rotated_photo_is_honoured_by_the_inpaint_endpoint(app):
    """A phone photo stored 128x64 with EXIF 'rotate 90': the app sees it 64x128, upright."""
    from gradio_client import handle_file

    ctx, client, _, folder = app
    data = rotated_jpeg((128, 64))
    upright = displayed(data)
    assert upright.size == (64, 128)
    mask = box_mask((64, 128), (16, 48, 48, 80))
    gallery, info, _ = client.predict(
        prompt="x", image=handle_file(write(folder, "rot.jpg", data)),
        mask=handle_file(write(folder, "rotmask.png", encode(mask))), width=64, height=128,
        steps=2, seed=1, mask_blur=0, resize_mode="Just resize", api_name="/inpaint")
    assert "resized" not in info  # the mask fitted the upright image: no size notice
    with Image.open(gallery[0]["image"]) as out:
        _inpaint_keeps_outside(out.convert("RGB"), upright, mask, 0)


def test_exif_rotated_photo_is_honoured_by_the_a1111_api(app):
    """The same photo through ``/sdapi/v1/img2img`` (inpaint, a mask of its displayed size)."""
    ctx, _, http, _ = app
    data = rotated_jpeg((128, 64))
    upright = displayed(data)
    mask = box_mask((64, 128), (16, 48, 48, 80))
    r = http.post("/sdapi/v1/img2img", json={
        "prompt": "x", "init_images": [b64(data)], "mask": b64(encode(mask)), "width": 64,
        "height": 128, "steps": 2, "seed": 1, "mask_blur": 0, "inpaint_full_res": False,
        "sampler_name": "Euler"})
    assert r.status_code == 200, r.text
    with Image.open(io.BytesIO(base64.b64decode(r.json()["images"][0]))) as out:
        _inpaint_keeps_outside(out.convert("RGB"), upright, mask, 0)


# Gradio's own image input may refuse a file first ("cannot identify image file"); what
# reaches the app is refused by webui.imaging.open_image with its own words
UNREADABLE = "cannot identify image file|is empty|not an image|damaged or truncated"


def _bad_files(folder: Path) -> dict[str, str]:
    good = encode(noise_image(seed=11))
    return {"empty": write(folder, "empty.png", b""),
            "text": write(folder, "text.png", b"this is not a picture"),
            "truncated": write(folder, "truncated.png", good[:300])}


@pytest.mark.parametrize("which", ["empty", "text", "truncated"])
@pytest.mark.parametrize("endpoint, field", [("/inpaint", "image"), ("/inpaint", "mask"),
                                             ("/outpaint", "image")])
def test_bad_files_for_mask_and_outpaint_are_clear_errors(app, endpoint, field, which):
    """0-byte, non-image and truncated files as the inpaint image or mask, or the outpaint
    image (the existing test covers only the img2img image)."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    ctx, client, _, folder = app
    bad = _bad_files(folder)[which]
    good = write(folder, "ok.png", encode(noise_image(seed=12)))
    mask = write(folder, "okmask.png", encode(box_mask((64, 64), (16, 16, 48, 48))))
    kwargs = {"image": handle_file(good)}
    if endpoint == "/inpaint":
        kwargs["mask"] = handle_file(mask)
    else:
        kwargs["right"] = 8
    kwargs[field] = handle_file(bad)
    snap = Snapshot(ctx)
    with pytest.raises(AppError, match=UNREADABLE):
        client.predict(prompt="x", width=64, height=64, steps=2, api_name=endpoint, **kwargs)
    snap.assert_nothing_written()
    still_serving(app)


def test_mask_of_other_size_is_resized_with_a_notice_in_the_tab(app):
    """The engine test checks the notice is recorded; here the user sees it."""
    from gradio_client import handle_file

    ctx, client, _, folder = app
    gallery, info, _ = client.predict(
        prompt="x", image=handle_file(write(folder, "i.png", encode(noise_image(seed=5)))),
        mask=handle_file(write(folder, "big.png",  # 96x96: at the upload limit, not above
                               encode(box_mask((96, 96), (30, 30, 66, 66))))),
        width=64, height=64, steps=2, seed=1, api_name="/inpaint")
    assert len(gallery) == 1
    assert "mask was 96x96, resized to the image's 64x64" in info


def test_empty_mask_writes_nothing(ctx):
    """The engine refuses an empty mask (covered) and leaves no row and no file behind."""
    from webui.request import RequestError

    snap = Snapshot(ctx)
    with pytest.raises(RequestError, match="mask is empty: nothing to inpaint"):
        ctx.jobs.run(small_request(mode="inpaint", init_image=noise_image(),
                                   mask=Image.new("L", (64, 64), 0)))
    with pytest.raises(RequestError, match="mask is empty"):  # inverting an all-white mask
        ctx.jobs.run(small_request(mode="inpaint", init_image=noise_image(), invert_mask=True,
                                   mask=Image.new("L", (64, 64), 255)))
    snap.assert_nothing_written()


# -- --max-image-pixels ------------------------------------------------------------------------

def test_max_image_pixels_flag_reaches_the_settings():
    from webui.config import parse_settings

    assert parse_settings(["--max-image-pixels", "12345"]).limits.max_image_pixels == 12345


@pytest.mark.parametrize("endpoint, field", [("/img2img", "image"), ("/inpaint", "image"),
                                             ("/inpaint", "mask"), ("/outpaint", "image")])
def test_upload_above_max_image_pixels_is_refused_in_the_tabs(app, endpoint, field):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    ctx, client, _, folder = app
    big = write(folder, "big.png", encode(noise_image(100, 100, seed=1)))  # 10000 > 9216
    kwargs = {"image": handle_file(write(folder, "ok.png", encode(noise_image(seed=1))))}
    if endpoint == "/inpaint":
        kwargs["mask"] = handle_file(write(folder, "okm.png",
                                           encode(box_mask((64, 64), (8, 8, 40, 40)))))
    if endpoint == "/outpaint":
        kwargs["right"] = 8
    kwargs[field] = handle_file(big)
    snap = Snapshot(ctx)
    with pytest.raises(AppError, match=rf"100x100 = 10000 pixels, above the limit of {LIMIT}"):
        client.predict(prompt="x", width=64, height=64, steps=2, api_name=endpoint, **kwargs)
    snap.assert_nothing_written()
    still_serving(app)


def test_image_at_the_limit_is_accepted(app):
    from gradio_client import handle_file

    ctx, client, _, folder = app
    path = write(folder, "edge.png", encode(noise_image(96, 96, seed=1)))  # exactly 9216
    gallery, _, _ = client.predict(prompt="x", image=handle_file(path), width=64, height=64,
                                   steps=2, api_name="/img2img")
    assert len(gallery) == 1


def test_upload_above_max_image_pixels_is_refused_by_the_a1111_api(app):
    ctx, _, http, _ = app
    snap = Snapshot(ctx)
    r = http.post("/sdapi/v1/img2img", json={
        "prompt": "x", "init_images": [b64(encode(noise_image(100, 100)))], "width": 64,
        "height": 64, "steps": 2})
    assert r.status_code == 400, r.text
    assert f"above the limit of {LIMIT}" in r.json()["detail"]
    snap.assert_nothing_written()


def test_upload_above_max_image_pixels_is_refused_by_the_stability_api(app):
    ctx, _, http, _ = app
    engine = ctx.manager.checkpoint_names()[0]
    snap = Snapshot(ctx)
    r = http.post(f"/v1/generation/{engine}/image-to-image",
                  files={"init_image": ("big.png", encode(noise_image(100, 96)), "image/png")},
                  data={"text_prompts[0][text]": "x", "steps": "2"})
    assert r.status_code == 400, r.text
    assert f"above the limit of {LIMIT}" in r.json()["message"]
    snap.assert_nothing_written()


# == issue 6 ===================================================================================

def _db_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'webui.db'}"


def test_database_locked_by_another_process_is_a_clear_error_at_start(settings):
    """Another program holds an exclusive lock on webui.db: starting the app says so (after
    the busy timeout) and leaves the file as it was."""
    from webui.app import create_context
    from webui.history.db import DatabaseOpenError, open_database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = settings.data_dir / "webui.db"
    open_database(_db_url(settings.data_dir)).dispose()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sqlite3, sys
            conn = sqlite3.connect({str(db)!r}, isolation_level=None)
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("CREATE TABLE IF NOT EXISTS lock_probe (x)")
            print("locked", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DatabaseOpenError, match="lock"):
            create_context(settings)
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert create_context(settings).store.count() == 0  # usable once the lock is gone


def test_read_only_database_is_a_clear_error_at_start(settings, monkeypatch):
    """webui.db (and its folder) made read-only: starting the app says so plainly, and the
    file is left untouched. Root may write anything, so when the tests run as root the
    permission check sees the file's mode bits as an ordinary user would."""
    from webui.app import create_context
    from webui.history import db as dbmod
    from webui.history.db import DatabaseOpenError, open_database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    open_database(_db_url(settings.data_dir)).dispose()
    db = settings.data_dir / "webui.db"
    for extra in settings.data_dir.glob("webui.db-*"):
        extra.unlink()
    before = db.read_bytes()
    if os.geteuid() == 0:
        real_access = os.access

        def as_a_user(path, mode, *a, **kw):
            if mode & os.W_OK:
                return bool(os.stat(path).st_mode & 0o200)
            return real_access(path, mode, *a, **kw)

        monkeypatch.setattr(dbmod.os, "access", as_a_user)
    db.chmod(0o444)
    settings.data_dir.chmod(0o555)
    try:
        with pytest.raises(DatabaseOpenError, match="read-only") as err:
            create_context(settings)
        assert str(db) in str(err.value) and "permissions" in str(err.value)
    finally:
        settings.data_dir.chmod(0o755)
        db.chmod(0o644)
    assert db.read_bytes() == before
    assert not list(settings.data_dir.glob("webui.db.*.bak"))  # nothing recreated or copied


def test_image_file_missing_on_disk_keeps_the_gallery_working(ctx):
    """An image deleted outside the app (its row stays): the gallery page still loads with a
    placeholder tile, the record is still readable, and deleting it works."""
    import gradio as gr

    from webui.ui.history import build_gallery_tab

    kept, gone = ctx.jobs.run(small_request(batch_size=2)).saved
    ctx.store.thumbnail(ctx.store.get(gone.id))  # a thumbnail was made earlier
    gone.path.unlink()
    for thumb in Path(ctx.settings.outputs_dir).rglob(f"{gone.path.stem}*.webp"):
        thumb.unlink()
    with gr.Blocks():
        tab = build_gallery_tab(ctx)
    items, ids, *_ = tab.load(None)
    assert set(ids) == {kept.id, gone.id}
    tiles = dict(zip(ids, (path for path, _ in items)))
    assert Path(tiles[gone.id]).is_file() and gone.path.stem not in Path(tiles[gone.id]).name
    assert Path(tiles[kept.id]).is_file()
    assert ctx.store.delete([gone.id]) == 1
    assert ctx.store.count() == 1 and kept.path.is_file()
