"""One pass of an upscaling network over a PIL image: to a tensor, through the network in
tiles (``webui.upscaling.tiling``), back to a picture. fp16 on CUDA; a tile that overflows in
fp16 (NaN/inf) is run again in float32."""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from webui.upscaling.tiling import run_tiled

log = logging.getLogger(__name__)


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    arr = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_image(t: torch.Tensor) -> Image.Image:
    arr = t[0].clamp(0, 1).permute(1, 2, 0).mul(255).round().to(torch.uint8).cpu().numpy()
    return Image.fromarray(arr, "RGB")


def _pad_multiple(net) -> int:
    """Input sides must be a multiple of this (pixel-unshuffled Real-ESRGAN x2plus: 2)."""
    return int(getattr(net, "unshuffle", 1) or 1)


@torch.inference_mode()
def run_network(net, image: Image.Image, device, half: bool, tile: int,
                overlap: int) -> Image.Image:
    """``image`` through ``net`` once (its native scale)."""
    scale = float(net.scale)
    multiple = _pad_multiple(net)
    dtype = next(net.parameters()).dtype

    def forward(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % multiple, (-w) % multiple
        if ph or pw:
            mode = "reflect" if h > ph and w > pw else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        out = net(x.to(device, dtype))
        if dtype != torch.float32 and not torch.isfinite(out).all():
            log.warning("upscaler overflowed in %s; running the tile again in float32", dtype)
            out = net.float()(x.to(device, torch.float32))
            net.to(dtype)
        out = out.float()
        if ph or pw:
            out = out[:, :, :round(h * scale), :round(w * scale)]
        return out

    x = image_to_tensor(image).to(device)
    h, w = x.shape[-2:]
    if multiple > 1:
        # tiles and their context must keep the network's pixel grid (pixel unshuffle): the
        # picture is padded to a multiple first, tile and overlap rounded up to multiples
        ph, pw = (-h) % multiple, (-w) % multiple
        if ph or pw:
            mode = "reflect" if h > ph and w > pw else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        tile = -(-tile // multiple) * multiple
        overlap = min(-(-overlap // multiple) * multiple, tile // 2 // multiple * multiple)
    out = run_tiled(forward, x, scale, tile, overlap)
    out = out[:, :, :round(h * scale), :round(w * scale)]
    return tensor_to_image(out)
