"""Tiny random ESRGAN-family models made in the tests, saved the ways people get them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from webui.upscaling.esrgan import RRDBNet, SRVGGNetCompact

#: file stem of the tiny 4x model the tests put into models/ESRGAN
TINY = "4x-TinyESRGAN"


def tiny_rrdbnet(seed: int = 0, num_upsample: int = 2, unshuffle: int = 1) -> RRDBNet:
    """A 4x RRDBNet (2 blocks, 8 features), random weights from ``seed``."""
    torch.manual_seed(seed)
    net = RRDBNet(3, 3, nf=8, nb=2, gc=4, num_upsample=num_upsample, unshuffle=unshuffle)
    with torch.no_grad():  # a picture that is not all black: lift the output around grey
        net.conv_last.bias.fill_(0.4)
    return net.eval()


def tiny_srvgg(seed: int = 0) -> SRVGGNetCompact:
    torch.manual_seed(seed)
    return SRVGGNetCompact(3, 3, nf=8, num_conv=2, upscale=4).eval()


def old_esrgan_layout(sd: dict[str, torch.Tensor], num_upsample: int = 2) -> dict:
    """Real-ESRGAN's keys -> the original ESRGAN layout (``model.N``), as 4x-UltraSharp and
    ESRGAN_4x are saved."""
    nb = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
    ups = [3 + 3 * i for i in range(num_upsample)]  # upsample, conv, lrelu per x2
    hr = (ups[-1] if ups else 1) + 2
    last = hr + 2
    out = {}
    for k, v in sd.items():
        kind = k.rsplit(".", 1)[1]
        if k.startswith("body."):
            _, b, rdb, conv, _ = k.split(".")
            out[f"model.1.sub.{b}.RDB{rdb[-1]}.{conv}.0.{kind}"] = v
        elif k.startswith("conv_first."):
            out[f"model.0.{kind}"] = v
        elif k.startswith("conv_body."):
            out[f"model.1.sub.{nb}.{kind}"] = v
        elif k.startswith("conv_up"):
            out[f"model.{ups[int(k[7]) - 1]}.{kind}"] = v
        elif k.startswith("conv_hr."):
            out[f"model.{hr}.{kind}"] = v
        elif k.startswith("conv_last."):
            out[f"model.{last}.{kind}"] = v
    return out


def save_pth(sd: dict, path: Path, wrap: str | None = None) -> Path:
    """A state dict as a ``.pth`` pickle (``wrap``: Real-ESRGAN's ``params_ema`` container)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({wrap: sd} if wrap else sd, path)
    return path


def save_safetensors(sd: dict, path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


class _Payload:
    """Pickled, it asks the loader to run ``touch <marker>``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def save_malicious(path: Path, marker: Path) -> Path:
    """A ``.pth`` that runs a shell command when unpickled without ``weights_only``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = dict(tiny_rrdbnet().state_dict())
    sd["payload"] = _Payload(marker)
    torch.save(sd, path)
    return path


def sample_picture(w: int = 48, h: int = 40) -> Image.Image:
    """A smooth picture with some edges (gradients and a square)."""
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                    ((x // 8 + y // 8) % 2) * 200], -1).astype("uint8")
    return Image.fromarray(arr, "RGB")


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float64)


def models_with_esrgan(tiny_models_dir: Path, target: Path, names=("tiny-sdxl-a",)) -> Path:
    """A models folder of the test's own (the session's tiny models folder is shared) with
    the tiny SDXL checkpoint(s) and ``ESRGAN/4x-TinyESRGAN.pth`` (original ESRGAN layout)."""
    for name in names:
        shutil.copytree(tiny_models_dir / "Stable-diffusion" / name,
                        target / "Stable-diffusion" / name)
    save_pth(old_esrgan_layout(tiny_rrdbnet().state_dict()), target / "ESRGAN" / f"{TINY}.pth")
    return target
