"""The ESRGAN family of super-resolution networks, and a safe loader for their weight files.

Three architectures cover the models people drop into ``models/ESRGAN``:

* **RRDBNet** in Real-ESRGAN's (BasicSR's) key layout: ``conv_first``, ``body.N.rdbK.convM``,
  ``conv_body``, ``conv_up1/2``, ``conv_hr``, ``conv_last`` (RealESRGAN_x4plus, x4plus_anime_6B,
  and x2plus, whose input is pixel-unshuffled);
* **RRDBNet** in the original ESRGAN key layout: ``model.0``, ``model.1.sub.N.RDBK.convM.0``,
  upsampling convs at ``model.3``, ``model.6``... (ESRGAN_4x, 4x-UltraSharp, 4x-AnimeSharp,
  1x/2x/8x models of the same kind);
* **SRVGGNetCompact** (``body.N``): Real-ESRGAN's small models (realesr-general-x4v3,
  realesr-general-wdn-x4v3, realesr-animevideov3).

The shape of each network (blocks, features, scale, channels) is read from the weights, so no
configuration is needed. Files are read without running code: ``.safetensors``, or a pickle
through ``torch.load(weights_only=True)``, which refuses anything but tensors and plain
containers. Why not ``spandrel`` (the loader A1111 and ComfyUI use): see requirements.txt.
"""

from __future__ import annotations

import logging
import math
import pickle
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from webui.errors import RequestError

log = logging.getLogger(__name__)

#: weight files this loader reads
MODEL_SUFFIXES = (".safetensors", ".pth", ".pt")


class UpscalerLoadError(RequestError):
    """An upscaler's weight file cannot be used; the message says why and what to do."""


# -- architectures ---------------------------------------------------------------------------

class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each seeing every earlier output (dense), scaled residual."""

    def __init__(self, nf: int = 64, gc: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks, scaled residual."""

    def __init__(self, nf: int, gc: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(nf, gc)
        self.rdb2 = ResidualDenseBlock(nf, gc)
        self.rdb3 = ResidualDenseBlock(nf, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN's generator in Real-ESRGAN's key layout.

    ``num_upsample`` nearest-neighbour x2 steps (each followed by a conv) give a scale of
    ``2 ** num_upsample``; ``unshuffle`` > 1 first folds ``unshuffle`` x ``unshuffle`` pixel
    blocks into channels (Real-ESRGAN x2plus: 2), dividing the scale by it.
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, nf: int = 64, nb: int = 23,
                 gc: int = 32, num_upsample: int = 2, unshuffle: int = 1):
        super().__init__()
        self.unshuffle = unshuffle
        self.num_upsample = num_upsample
        self.conv_first = nn.Conv2d(in_ch * unshuffle * unshuffle, nf, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)])
        self.conv_body = nn.Conv2d(nf, nf, 3, 1, 1)
        for i in range(num_upsample):
            setattr(self, f"conv_up{i + 1}", nn.Conv2d(nf, nf, 3, 1, 1))
        self.conv_hr = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    @property
    def scale(self) -> float:
        return 2 ** self.num_upsample / self.unshuffle

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(self.num_upsample):
            conv = getattr(self, f"conv_up{i + 1}")
            feat = self.lrelu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact network: plain convs with PReLU, pixel shuffle, plus the input
    upscaled by nearest neighbour (the network learns the residual)."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, nf: int = 64, num_conv: int = 16,
                 upscale: int = 4, act: str = "prelu"):
        super().__init__()
        self.upscale = upscale
        layers: list[nn.Module] = [nn.Conv2d(in_ch, nf, 3, 1, 1), _activation(act, nf)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(nf, nf, 3, 1, 1), _activation(act, nf)]
        layers.append(nn.Conv2d(nf, out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)

    @property
    def scale(self) -> float:
        return float(self.upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = F.pixel_shuffle(out, self.upscale)
        return out + F.interpolate(x, scale_factor=self.upscale, mode="nearest")


def _activation(kind: str, nf: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(num_parameters=nf)
    if kind == "relu":
        return nn.ReLU(inplace=True)
    return nn.LeakyReLU(0.1, inplace=True)


# -- reading weight files --------------------------------------------------------------------

def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of an upscaler file, read without running any code from it.

    ``.safetensors`` are read as they are; pickles (``.pth``/``.pt``) only with
    ``torch.load(weights_only=True)``: one that holds Python objects to run is refused with
    a plain message. Real-ESRGAN's ``{"params_ema": {...}}`` wrappers are unwrapped."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path), device="cpu")
        else:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"(unsupported GLOBAL [^\n]*|Unsupported global: [^\n]*)", text,
                          re.IGNORECASE)
        if found is None:  # not a pickle of weights at all, or damaged
            raise UpscalerLoadError(
                f"upscaler file {path.name} cannot be read as weights (it may be truncated or "
                "not a model file)") from None
        raise UpscalerLoadError(
            f"upscaler file {path.name} was refused: it is a pickle that holds Python code "
            f"to run, not only weights ({found.group(1).strip()[:160]}). Upscalers are loaded "
            "with torch.load(weights_only=True) or from .safetensors: use a .safetensors copy "
            "or a plain state dict from a trusted source.") from None
    except FileNotFoundError:
        raise UpscalerLoadError(f"upscaler file {path} is gone") from None
    except Exception as exc:  # noqa: BLE001 - truncated/corrupt files of any kind
        raise UpscalerLoadError(
            f"upscaler file {path.name} cannot be read ({type(exc).__name__}: "
            f"{str(exc)[:200]}); it may be truncated or not a model file") from None
    return unwrap_state_dict(sd, path.name)


def unwrap_state_dict(sd, name: str = "the file") -> dict[str, torch.Tensor]:
    """A flat ``{key: tensor}`` from the containers Real-ESRGAN and others save."""
    for _ in range(2):
        if isinstance(sd, dict) and not any(isinstance(v, torch.Tensor) for v in sd.values()):
            for key in ("params_ema", "params", "state_dict", "model", "net_g"):
                if isinstance(sd.get(key), dict):
                    sd = sd[key]
                    break
    if not isinstance(sd, dict) or not sd:
        raise UpscalerLoadError(f"{name} holds no weights (expected a state dict)")
    tensors = {k: v for k, v in sd.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise UpscalerLoadError(f"{name} holds no weights (expected a state dict)")
    return {k.removeprefix("module."): v for k, v in tensors.items()}


# -- building the network from its weights ---------------------------------------------------

_OLD_RDB = re.compile(r"^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$")
_NEW_RDB = re.compile(r"^body\.(\d+)\.rdb([123])\.conv([1-5])\.(weight|bias)$")


def build_network(sd: dict[str, torch.Tensor], name: str = "the model") -> nn.Module:
    """The network whose weights are ``sd`` (any of the three layouts), in eval mode with the
    weights loaded strictly; ``UpscalerLoadError`` for anything else."""
    try:
        if "model.0.weight" in sd and any(_OLD_RDB.match(k) for k in sd):
            net, converted = _old_esrgan(sd)
        elif "conv_first.weight" in sd and any(_NEW_RDB.match(k) for k in sd):
            net, converted = _rrdbnet(sd), sd
        elif "body.0.weight" in sd and sd["body.0.weight"].ndim == 4:
            net, converted = _srvgg(sd), sd
        else:
            raise UpscalerLoadError(
                f"{name} is not an ESRGAN-family model this app can run (RRDBNet in the "
                "ESRGAN or Real-ESRGAN layout, or SRVGGNetCompact); first keys: "
                f"{', '.join(list(sd)[:4])}")
        net.load_state_dict(converted, strict=True)
    except UpscalerLoadError:
        raise
    except (RuntimeError, KeyError, ValueError, IndexError) as exc:
        raise UpscalerLoadError(f"{name}: the weights do not fit the network they look like "
                                f"({str(exc).splitlines()[0][:300]})") from None
    return net.eval().requires_grad_(False)


def _unshuffle_of(in_channels: int, out_ch: int) -> int:
    ratio = in_channels // max(out_ch, 1)
    factor = int(round(math.sqrt(ratio)))
    if factor * factor * out_ch != in_channels:
        raise UpscalerLoadError(f"unexpected input channels {in_channels}")
    return factor


def _rrdbnet(sd: dict) -> RRDBNet:
    nb = 1 + max(int(m.group(1)) for k in sd if (m := _NEW_RDB.match(k)))
    nf, in_all = sd["conv_first.weight"].shape[:2]
    gc = sd["body.0.rdb1.conv1.weight"].shape[0]
    out_ch = sd["conv_last.weight"].shape[0]
    num_up = sum(1 for k in sd if re.fullmatch(r"conv_up\d+\.weight", k))
    unshuffle = _unshuffle_of(in_all, out_ch)
    return RRDBNet(out_ch, out_ch, nf, nb, gc, num_up, unshuffle)


def _old_esrgan(sd: dict) -> tuple[RRDBNet, dict]:
    """The original ESRGAN layout (``model.N``) as an ``RRDBNet`` and its converted keys.

    ``model.0`` is the first conv, ``model.1.sub`` the RRDB trunk with its closing conv at
    ``model.1.sub.<nb>``; then convs at increasing indices: one per x2 upsampling, then the
    HR conv and the last conv (the activations and upsampling layers hold no weights)."""
    nb = 1 + max(int(m.group(1)) for k in sd if (m := _OLD_RDB.match(k)))
    tail = sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(r"model\.(\d+)\.weight", k))
                   and int(m.group(1)) >= 2})
    if len(tail) < 2:
        raise UpscalerLoadError("the ESRGAN model has no HR and last convs (model.N)")
    ups, (hr, last) = tail[:-2], tail[-2:]
    nf, in_all = sd["model.0.weight"].shape[:2]
    gc = sd["model.1.sub.0.RDB1.conv1.0.weight"].shape[0]
    out_ch = sd[f"model.{last}.weight"].shape[0]
    net = RRDBNet(out_ch, out_ch, nf, nb, gc, len(ups), _unshuffle_of(in_all, out_ch))
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if m := _OLD_RDB.match(k):
            b, r, c, kind = m.groups()
            out[f"body.{b}.rdb{r}.conv{c}.{kind}"] = v
            continue
        m = re.fullmatch(r"model\.(\d+)\.(weight|bias)", k)
        m_body = re.fullmatch(rf"model\.1\.sub\.{nb}\.(weight|bias)", k)
        if m_body:
            out[f"conv_body.{m_body.group(1)}"] = v
        elif m:
            idx, kind = int(m.group(1)), m.group(2)
            if idx == 0:
                out[f"conv_first.{kind}"] = v
            elif idx in ups:
                out[f"conv_up{ups.index(idx) + 1}.{kind}"] = v
            elif idx == hr:
                out[f"conv_hr.{kind}"] = v
            elif idx == last:
                out[f"conv_last.{kind}"] = v
            else:
                out[k] = v  # strict loading names what does not fit
        else:
            out[k] = v
    return net, out


def _srvgg(sd: dict) -> SRVGGNetCompact:
    convs = sorted(int(m.group(1)) for k, v in sd.items()
                   if (m := re.fullmatch(r"body\.(\d+)\.weight", k)) and v.ndim == 4)
    nf, in_ch = sd["body.0.weight"].shape[:2]
    last = sd[f"body.{convs[-1]}.weight"].shape[0]
    act = "prelu" if "body.1.weight" in sd else "leakyrelu"
    # Real-ESRGAN's compact models are RGB in and out: the last conv has 3 x scale² outputs
    out_ch = in_ch
    upscale = int(round(math.sqrt(last / out_ch)))
    if upscale * upscale * out_ch != last:
        raise UpscalerLoadError(f"unexpected last conv with {last} outputs")
    return SRVGGNetCompact(in_ch, out_ch, nf, len(convs) - 2, upscale, act)


def load_network(path: Path) -> nn.Module:
    """Read ``path`` safely and build its network (CPU, float32, eval mode)."""
    path = Path(path)
    net = build_network(read_state_dict(path), path.name)
    log.info("upscaler %s loaded: %s, x%g", path.name, type(net).__name__, net.scale)
    return net
