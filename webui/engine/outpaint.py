"""Outpainting: extend the canvas left/right/up/down and paint the new area.

The new area is filled first (edge extension, or colour noise when ``masked_content`` is
"latent noise"), then inpainted with a mask covering the new area plus an overlap band into
the original; the mask fades inside that band only, so the original region outside the
overlap comes out pixel for pixel unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image, ImageFilter

from webui.engine.img2img import styles_params
from webui.engine.inpaint import InpaintJob, run_prepared
from webui.engine.progress import JobProgress
from webui.engine.result import GenerationResult, fmt_number
from webui.imaging import extend_canvas
from webui.request import GenerationRequest


def overlap_of(req: GenerationRequest) -> int:
    """Width of the band of the original that is repainted to blend the seam."""
    return max(8, 2 * req.mask_blur)


def outpaint_mask(size: tuple[int, int], box: tuple[int, int, int, int], overlap: int,
                  blur: int) -> Image.Image:
    """White over the new area, fading to black across ``overlap`` pixels into ``box``
    (the original's place); black beyond the band."""
    w, h = size
    x1, y1, x2, y2 = box
    hard = np.full((h, w), 255, np.uint8)
    hard[y1:y2, x1:x2] = 0
    band = np.zeros((h, w), bool)
    band[y1:y2, x1:x2] = True
    inner = np.zeros((h, w), bool)
    ix1, iy1 = x1 + overlap if x1 > 0 else x1, y1 + overlap if y1 > 0 else y1
    ix2, iy2 = x2 - overlap if x2 < w else x2, y2 - overlap if y2 < h else y2
    inner[iy1:iy2, ix1:ix2] = True
    band &= ~inner
    # grow the new area by half the band, blur, and keep the result inside the band
    grown = Image.fromarray(hard).filter(ImageFilter.MaxFilter(2 * (overlap // 2) + 1))
    soft = np.asarray(grown.filter(ImageFilter.GaussianBlur(max(blur, 1))), np.uint8).copy()
    soft[inner] = 0
    soft[hard == 255] = 255
    soft[~band & (hard == 0)] = 0
    return Image.fromarray(soft, "L")


def run_outpaint(manager, req: GenerationRequest,
                 progress: JobProgress | None = None) -> GenerationResult:
    """Extend ``req.init_image`` by ``outpaint_left/right/up/down`` pixels and fill the new
    area; the result has the extended canvas's size."""
    img = req.init_image
    left, right, up, down = req.outpaint_left, req.outpaint_right, req.outpaint_up, \
        req.outpaint_down
    fill = "noise" if req.masked_content == "latent noise" else "edge"
    canvas = extend_canvas(img, left, right, up, down, fill=fill, seed=max(req.seed, 0))
    box = (left, up, left + img.width, up + img.height)
    mask = outpaint_mask(canvas.size, box, overlap_of(req), req.mask_blur)
    # generate at the canvas size rounded up to a multiple of 8: the request this job runs
    # (and records) has the canvas's size
    run_req = replace(req, width=-(-canvas.width // 8) * 8, height=-(-canvas.height // 8) * 8)
    gen_size = (run_req.width, run_req.height)
    work = canvas.resize(gen_size, Image.Resampling.LANCZOS) if canvas.size != gen_size \
        else canvas
    work_mask = mask.resize(gen_size, Image.Resampling.LANCZOS) if mask.size != gen_size \
        else mask
    job = InpaintJob(work, work_mask, canvas, mask, (0, 0, canvas.width, canvas.height))

    def params(r):
        return {"Denoising strength": fmt_number(r.denoising_strength), "Mask blur": r.mask_blur,
                "Outpaint": f"left {left}, right {right}, up {up}, down {down}",
                **styles_params(r)}

    # the new area is already filled (edge or noise): the inpaint path must start from it,
    # not swap it for latent noise
    result = run_prepared(manager, replace(run_req, masked_content="original"), job, progress,
                          extra_params=params)
    result.request = run_req
    return result
