"""The Extras tab: upscale one picture, several, or a folder's, as A1111's Extras tab does.

Source: *Single image*, *Batch* (several files) or *From folder* (a folder on the server:
admins only). Resize: *Scale by* a factor, or *Scale to* a width and height (cropped to fit
around the centre, or not). Upscaler 1 does the work; Upscaler 2, when chosen, is blended in
by its visibility. Tiling (tile size and overlap) bounds the memory an ESRGAN model needs.
Results are saved to ``outputs/extras-images/YYYY-MM-DD`` with A1111's ``postprocessing``
text and shown with it. The job waits its turn on the same device queue as generation
(``ctx.extras``, the service the A1111 routes use too). Gradio endpoint: ``/extras``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr
from PIL import Image, UnidentifiedImageError

from webui.caller import resolve_caller
from webui.errors import RequestError
from webui.queue import QueueFull
from webui.ratelimit import RateLimited
from webui.upscaling.extras import MAX_BATCH, MAX_OUTPUT_SIDE, MAX_SCALE, ExtrasRequest

log = logging.getLogger(__name__)

SOURCES = ("Single image", "Batch", "From folder")
RESIZE_MODES = ("Scale by", "Scale to")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
#: the most pictures one run takes from a folder (in batches of MAX_BATCH)
MAX_FOLDER_IMAGES = 1000

EXTRAS_DOC = """Upscale pictures with an upscaler (A1111's Extras tab).

`source`: "Single image" (`image`), "Batch" (`files`) or "From folder" (`folder`, a folder on
the server; admins only). `resize_mode`: "Scale by" (`scale`, 1-8) or "Scale to" (`width` x
`height`, with `crop` to cut the result to that size). `upscaler_1`: an upscaler of
GET /sdapi/v1/upscalers ("None" leaves the picture as it is); `upscaler_2` is blended in by
`upscaler_2_visibility` (0-1). `tile`/`overlap`: ESRGAN tiling in input pixels (0 = no
tiling). Returns the results (PNG files with A1111 `postprocessing` text, saved under
outputs/extras-images) and the info line.
"""


def _open(path, what: str) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()
            out = img.copy()
            out.info = dict(img.info)
            return out
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise RequestError(f"{what} is not a readable image (PNG, JPEG or WebP)") from None


def _file_path(item) -> str | None:
    if item is None:
        return None
    if isinstance(item, (str, Path)):
        return str(item)
    return getattr(item, "name", None) or (item.get("path") if isinstance(item, dict) else None)


def gather_images(ctx, who, source: str, image, files, folder) -> list[tuple[Image.Image, str | None]]:
    """The pictures the chosen source holds, with their file names; ``RequestError`` when
    there are none or the caller may not read the folder."""
    if source == "Single image":
        if image is None:
            raise RequestError("no image: drop a picture into Single image")
        if not isinstance(image, Image.Image):
            image = _open(_file_path(image), "the image")
        return [(image, None)]
    if source == "Batch":
        paths = [p for p in (_file_path(f) for f in (files or [])) if p]
        if not paths:
            raise RequestError("no files: drop pictures into Batch")
        return [(_open(p, Path(p).name), Path(p).name) for p in paths]
    if source == "From folder":
        if not who.is_admin or ctx.settings.demo:
            raise RequestError("only an admin may upscale a folder on the server; use Batch")
        text = (folder or "").strip()
        if not text:
            raise RequestError("no folder: type the path of a folder on the server")
        root = Path(text).expanduser()
        if not root.is_dir():
            raise RequestError(f"folder {text} is not there (or not a folder)")
        paths = sorted(p for p in root.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise RequestError(f"folder {text} holds no pictures "
                               f"({', '.join(IMAGE_SUFFIXES)})")
        if len(paths) > MAX_FOLDER_IMAGES:
            raise RequestError(f"folder {text} holds {len(paths)} pictures; at most "
                               f"{MAX_FOLDER_IMAGES} a run")
        return [(_open(p, p.name), p.name) for p in paths]
    raise RequestError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")


def upscaler_choices(ctx) -> list[str]:
    return ctx.upscalers.names()


def build_extras_tab(ctx):
    """Build the tab; returns its refresh function and the dropdowns it refreshes."""
    choices = upscaler_choices(ctx)
    registry = ctx.upscalers
    with gr.Row():
        with gr.Column():
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Source",
                              elem_id="extras_source")
            image = gr.Image(type="pil", label="Image", sources=["upload", "clipboard"],
                             elem_id="extras_image")
            files = gr.File(label="Batch: pictures", file_count="multiple",
                            file_types=["image"], visible=False, elem_id="extras_files")
            folder = gr.Textbox(label="Folder on the server (admins)", visible=False,
                                placeholder="/path/to/pictures", elem_id="extras_folder")
            resize_mode = gr.Radio(list(RESIZE_MODES), value=RESIZE_MODES[0],
                                   label="Resize", elem_id="extras_resize_mode")
            scale = gr.Slider(1, MAX_SCALE, value=2, step=0.05, label="Scale by",
                              elem_id="extras_upscaling_resize")
            with gr.Row(visible=False) as size_row:
                width = gr.Slider(64, MAX_OUTPUT_SIDE, value=1024, step=8, label="Width",
                                  elem_id="extras_upscaling_resize_w")
                height = gr.Slider(64, MAX_OUTPUT_SIDE, value=1024, step=8, label="Height",
                                   elem_id="extras_upscaling_resize_h")
                crop = gr.Checkbox(True, label="Crop to fit", elem_id="extras_upscaling_crop")
            upscaler_1 = gr.Dropdown(choices, value="Lanczos" if "Lanczos" in choices
                                     else choices[0], label="Upscaler 1",
                                     allow_custom_value=True, elem_id="extras_upscaler_1")
            with gr.Row():
                upscaler_2 = gr.Dropdown(choices, value="None", label="Upscaler 2",
                                         allow_custom_value=True,
                                         elem_id="extras_upscaler_2")
                visibility = gr.Slider(0, 1, value=0, step=0.001,
                                       label="Upscaler 2 visibility",
                                       elem_id="extras_upscaler_2_visibility")
            with gr.Accordion("Tiling (ESRGAN models)", open=False):
                tile = gr.Slider(0, 1024, value=registry.tile, step=8,
                                 label="Tile size (0 = whole picture at once)",
                                 elem_id="extras_tile")
                overlap = gr.Slider(0, 128, value=registry.overlap, step=1,
                                    label="Tile overlap (blended)", elem_id="extras_overlap")
            run = gr.Button("Upscale", variant="primary", elem_id="extras_generate")
        with gr.Column():
            gallery = gr.Gallery(label="Results", columns=2, height="auto",
                                 elem_id="extras_gallery")
            info = gr.HTML(elem_id="extras_html_info")

    source.change(lambda s: (gr.update(visible=s == SOURCES[0]),
                             gr.update(visible=s == SOURCES[1]),
                             gr.update(visible=s == SOURCES[2])),
                  source, [image, files, folder], api_visibility="private", queue=False,
                  show_progress="hidden")
    resize_mode.change(lambda m: (gr.update(visible=m == RESIZE_MODES[0]),
                                  gr.update(visible=m == RESIZE_MODES[1])),
                       resize_mode, [scale, size_row], api_visibility="private", queue=False,
                       show_progress="hidden")

    defaults = dict(source=SOURCES[0], folder="", resize_mode=RESIZE_MODES[0], scale=2,
                    width=1024, height=1024, crop=True, upscaler_1="Lanczos",
                    upscaler_2="None", upscaler_2_visibility=0, tile=registry.tile,
                    overlap=registry.overlap)

    def extras(source=None, image=None, files=None, folder=None, resize_mode=None,
               scale=None, width=None, height=None, crop=None, upscaler_1=None,
               upscaler_2=None, upscaler_2_visibility=None, tile=None, overlap=None,
               request: gr.Request = None):
        given = dict(source=source, folder=folder, resize_mode=resize_mode, scale=scale,
                     width=width, height=height, crop=crop, upscaler_1=upscaler_1,
                     upscaler_2=upscaler_2, upscaler_2_visibility=upscaler_2_visibility,
                     tile=tile, overlap=overlap)
        v = {k: defaults[k] if val is None else val for k, val in given.items()}
        who = resolve_caller(ctx, request)
        try:
            if v["resize_mode"] not in RESIZE_MODES:
                raise RequestError(f"resize_mode must be one of {', '.join(RESIZE_MODES)}, "
                                   f"got {v['resize_mode']!r}")
            pictures = gather_images(ctx, who, v["source"], image, files, v["folder"])
            paths, infotexts = [], []
            for start in range(0, len(pictures), MAX_BATCH):
                req = ExtrasRequest(
                    pictures[start:start + MAX_BATCH], RESIZE_MODES.index(v["resize_mode"]),
                    v["scale"], v["width"], v["height"], bool(v["crop"]),
                    v["upscaler_1"] or "None", v["upscaler_2"] or "None",
                    v["upscaler_2_visibility"], v["tile"], v["overlap"])
                result = ctx.extras.run(req, job_key=who.job_key)
                paths += result.paths
                infotexts += result.infotexts
        except (RequestError, QueueFull, RateLimited) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        from webui.upscaling.extras import plaintext_to_html

        shown = [(str(p), text) for p, text in zip(paths, infotexts)]
        return shown, plaintext_to_html(infotexts[-1] if infotexts else "")

    extras.__doc__ = EXTRAS_DOC
    run.click(extras, [source, image, files, folder, resize_mode, scale, width, height, crop,
                       upscaler_1, upscaler_2, visibility, tile, overlap],
              [gallery, info], api_name="extras", concurrency_limit=None)

    def refresh():
        names = upscaler_choices(ctx)
        return gr.update(choices=names), gr.update(choices=names)

    # models/ESRGAN is read when a list opens: a model copied in is offered at once
    for dropdown in (upscaler_1, upscaler_2):
        dropdown.focus(refresh, None, [upscaler_1, upscaler_2], api_visibility="private",
                       queue=False, show_progress="hidden")
    return refresh, [upscaler_1, upscaler_2]
