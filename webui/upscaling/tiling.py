"""Run an image-to-image network over a big picture in overlapping tiles.

Tiles of ``tile`` x ``tile`` input pixels overlap their neighbours by ``overlap`` pixels and
each is run with ``overlap`` pixels more of the picture around it as context (cut off
afterwards), so a pixel near a tile's edge sees what it would see untiled; in the overlap
each output is weighted by a linear ramp (the two ramps sum to one), so what differences
remain (networks that see farther than the context) fade into each other instead of showing
as seams. Memory is bounded by one tile and its context, whatever the picture's size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

log = logging.getLogger(__name__)


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering ``size`` with at least ``overlap``
    shared pixels between neighbours; the last tile ends at ``size``."""
    if tile >= size:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def _ramp(length: int, lead: int, trail: int) -> torch.Tensor:
    """1 in the middle, rising over ``lead`` values at the start and falling over ``trail``
    at the end (never 0, so a lone pixel keeps some weight)."""
    w = torch.ones(length)
    if lead > 0:
        w[:lead] = torch.arange(1, lead + 1, dtype=torch.float32) / (lead + 1)
    if trail > 0:
        w[length - trail:] = torch.minimum(
            w[length - trail:], torch.arange(trail, 0, -1, dtype=torch.float32) / (trail + 1))
    return w


@torch.no_grad()
def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: float,
              tile: int, overlap: int) -> torch.Tensor:
    """``fn(x)`` for a ``[1, C, H, W]`` input, computed tile by tile when ``tile`` > 0 and
    the image is larger than one tile. ``fn`` must scale both sides by ``scale``. The result
    is float32 on ``x``'s device."""
    _, _, h, w = x.shape
    if tile <= 0 or (h <= tile and w <= tile):
        return fn(x).float()
    overlap = max(0, min(overlap, tile // 2))
    s = scale
    out_h, out_w = round(h * s), round(w * s)
    out = None
    weight = torch.zeros(1, 1, out_h, out_w, device=x.device)
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    for iy, y0 in enumerate(ys):
        for ix, x0 in enumerate(xs):
            th, tw = min(tile, h - y0), min(tile, w - x0)
            # the tile with up to ``overlap`` pixels of context on each side
            cy0, cx0 = max(0, y0 - overlap), max(0, x0 - overlap)
            cy1, cx1 = min(h, y0 + th + overlap), min(w, x0 + tw + overlap)
            part = fn(x[:, :, cy0:cy1, cx0:cx1]).float()
            top, left = round((y0 - cy0) * s), round((x0 - cx0) * s)
            oy, ox = round(y0 * s), round(x0 * s)
            ph = min(round(th * s), out_h - oy, part.shape[-2] - top)
            pw = min(round(tw * s), out_w - ox, part.shape[-1] - left)
            part = part[:, :, top:top + ph, left:left + pw]
            if out is None:
                out = torch.zeros(1, part.shape[1], out_h, out_w, device=x.device)
            # ramps only where a neighbour overlaps this tile
            lead_y = round((ys[iy - 1] + tile - y0) * s) if iy > 0 else 0
            trail_y = round((y0 + th - ys[iy + 1]) * s) if iy + 1 < len(ys) else 0
            lead_x = round((xs[ix - 1] + tile - x0) * s) if ix > 0 else 0
            trail_x = round((x0 + tw - xs[ix + 1]) * s) if ix + 1 < len(xs) else 0
            wy = _ramp(ph, min(max(lead_y, 0), ph), min(max(trail_y, 0), ph)).to(x.device)
            wx = _ramp(pw, min(max(lead_x, 0), pw), min(max(trail_x, 0), pw)).to(x.device)
            mask = (wy[:, None] * wx[None, :])[None, None]
            out[:, :, oy:oy + ph, ox:ox + pw] += part * mask
            weight[:, :, oy:oy + ph, ox:ox + pw] += mask
    return out / weight.clamp_min(1e-8)
