"""Applying a job's ControlNet and IP-Adapter units in the engine.

``prepare_control`` turns the request's units into a :class:`ControlJob` once per pipeline
pass: each ControlNet unit's control map (preprocessor at its processor resolution, or the
pixel-perfect one, then resized to the job's size by its resize mode), each IP-Adapter unit's
image embedding (the cached CLIP image encoder), and the infotext lines. ``ControlJob``
then gives the pass its pipeline (diffusers' SDXL ControlNet pipeline of the mode, built over
the job's view: the cached UNet, text encoders and VAE, no copy) and the call's arguments.

Control modes, as sd-webui-controlnet applies them, done on diffusers' residuals:

* Balanced: the residuals times the weight, on both halves of the CFG batch.
* My prompt is more important: the extension's "soft injection": output ``k`` of ``n``
  (the down blocks, then the middle block) is scaled by ``weight * 0.825 ** (n - 1 - k)``,
  so the shallow, detailed blocks get least.
* ControlNet is more important: soft injection, and the control acts on the conditional
  half of the CFG batch only ("CFG injection"; diffusers' ``guess_mode`` does the same with
  its own log-spaced scales), so the prompt's pull in CFG cannot cancel it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from PIL import Image

from webui.controlnet.preprocess import IP_ADAPTER_MODULES
from webui.controlnet.preprocess import is_ip_adapter_module as is_ip_module
from webui.errors import RequestError
from webui.models.control import CONTROLNET_UNION, IP_ADAPTER

log = logging.getLogger(__name__)

BALANCED, PROMPT, CONTROL = ("Balanced", "My prompt is more important",
                             "ControlNet is more important")
SOFT_DECAY = 0.825  # sd-webui-controlnet's soft-injection factor per block
#: ControlNet Union's control types (xinsir's order; "promax" adds 6 and 7), by the words a
#: preprocessor's name holds
UNION_TYPES = [("openpose", 0), ("dwpose", 0), ("depth", 1), ("hed", 2), ("pidi", 2),
               ("scribble", 2), ("softedge", 2), ("ted", 2), ("canny", 3), ("lineart", 3),
               ("mlsd", 3), ("normal", 4), ("seg", 5), ("tile", 6), ("inpaint", 7),
               ("repaint", 7)]
UNION_DEFAULT = 3  # module "none" (the image is the map): canny/lineart, the commonest
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def union_type(module: str) -> int:
    """The Union model's control type for a preprocessor name (canny -> 3, depth -> 1…)."""
    name = module.strip().lower()
    for word, index in UNION_TYPES:
        if word in name:
            return index
    return UNION_DEFAULT


# -- sizes ----------------------------------------------------------------------------------------
def pixel_perfect_resolution(image: Image.Image, width: int, height: int,
                             resize_mode: str) -> int:
    """sd-webui-controlnet's pixel perfect: the processor resolution at which the control map
    needs no resampling beyond the resize mode's own (short side of the image scaled as the
    resize mode will scale it)."""
    k_h, k_w = height / image.height, width / image.width
    k = min(k_h, k_w) if resize_mode == "Resize and Fill" else max(k_h, k_w)
    return max(64, int(round(k * min(image.width, image.height))))


def fit_control_map(image: Image.Image, width: int, height: int, resize_mode: str
                    ) -> Image.Image:
    """The control map at the job's size: Just Resize stretches; Crop and Resize scales to
    cover and crops the middle; Resize and Fill scales to fit and pads with black (no
    control signal), as the extension does for maps."""
    image = image.convert("RGB")
    if image.size == (width, height):
        return image
    if resize_mode == "Just Resize":
        return image.resize((width, height), Image.Resampling.LANCZOS)
    fit = max if resize_mode == "Crop and Resize" else min
    k = fit(width / image.width, height / image.height)
    w, h = max(1, round(image.width * k)), max(1, round(image.height * k))
    scaled = image.resize((w, h), Image.Resampling.LANCZOS)
    out = Image.new("RGB", (width, height))
    out.paste(scaled, ((width - w) // 2, (height - h) // 2))
    return out


# -- the combined ControlNet ------------------------------------------------------------------------
def _multi_base():
    from diffusers import MultiControlNetModel

    return MultiControlNetModel


class UnionAsControlNet(torch.nn.Module):
    """A ``ControlNetUnionModel`` called like a ``ControlNetModel`` with one control type."""

    def __init__(self, union, control_type: int):
        super().__init__()
        self.union = union
        self.control_type = control_type

    @property
    def config(self):
        return self.union.config

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond, **kwargs):
        n = self.union.config.num_control_type
        onehot = torch.zeros(sample.shape[0], n, device=sample.device, dtype=sample.dtype)
        onehot[:, self.control_type] = 1
        kwargs.pop("class_labels", None)
        return self.union(sample, timestep, encoder_hidden_states,
                          controlnet_cond=[controlnet_cond], control_type=onehot,
                          control_type_idx=[self.control_type], **kwargs)


def make_unit_controlnets(nets, modes: list[str], cfg: bool):
    """A ``MultiControlNetModel`` (so diffusers' SDXL ControlNet pipelines take it, with one
    image, weight and guidance window per net) that adds the units' residuals with each
    unit's control mode. Holds the cached modules, copies nothing."""
    base = _multi_base()

    class UnitControlNets(base):
        def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond,
                    conditioning_scale, class_labels=None, timestep_cond=None,
                    attention_mask=None, added_cond_kwargs=None, cross_attention_kwargs=None,
                    guess_mode=False, return_dict=True):
            total = None
            for image, scale, net, mode in zip(controlnet_cond, conditioning_scale,
                                               self.nets, self.modes):
                if scale == 0:  # weight 0, or outside its guidance window: no control
                    continue
                down, mid = net(sample, timestep, encoder_hidden_states=encoder_hidden_states,
                                controlnet_cond=image, conditioning_scale=1.0,
                                class_labels=class_labels, timestep_cond=timestep_cond,
                                attention_mask=attention_mask,
                                added_cond_kwargs=added_cond_kwargs,
                                cross_attention_kwargs=cross_attention_kwargs,
                                guess_mode=False, return_dict=False)
                outs = [*down, mid]
                n = len(outs)
                scales = ([scale * SOFT_DECAY ** (n - 1 - k) for k in range(n)]
                          if mode != BALANCED else [scale] * n)
                mark = None
                if mode == CONTROL and self.cfg and sample.shape[0] % 2 == 0:
                    half = sample.shape[0] // 2  # diffusers' batch: [uncond, cond]
                    mark = torch.cat([torch.zeros(half), torch.ones(half)]).to(
                        sample.device, sample.dtype).view(-1, 1, 1, 1)
                outs = [o * s if mark is None else o * s * mark for o, s in zip(outs, scales)]
                total = outs if total is None else [t + o for t, o in zip(total, outs)]
            if total is None:
                return None, None  # the UNet then runs without control, as with no unit
            return total[:-1], total[-1]

    model = UnitControlNets(nets)
    model.modes = list(modes)
    model.cfg = cfg
    return model


_CONTROL_PIPELINES = {
    "txt2img": "StableDiffusionXLControlNetPipeline",
    "img2img": "StableDiffusionXLControlNetImg2ImgPipeline",
    "inpaint": "StableDiffusionXLControlNetInpaintPipeline",
}


def control_view(pipe, mode: str, controlnet):
    """diffusers' SDXL ControlNet pipeline of ``mode`` over ``pipe``'s modules (the job's
    view: its scheduler and VAE) and ``controlnet``; nothing cached changes."""
    import inspect

    import diffusers

    cls = getattr(diffusers, _CONTROL_PIPELINES[mode])
    expected, optional = cls._get_signature_keys(cls)
    parts = {k: v for k, v in pipe.components.items() if k in expected}
    parts["controlnet"] = controlnet
    for name in expected:
        parts.setdefault(name, None)
    config = {k: pipe.config[k] for k in optional if k in pipe.config}
    if "add_watermarker" in optional:
        config["add_watermarker"] = False
    view = cls(**parts, **config)
    view.set_progress_bar_config(disable=True)
    view._accepts = set(inspect.signature(cls.__call__).parameters)
    return view


# -- one job's units --------------------------------------------------------------------------------
@dataclass
class PreparedUnit:
    index: int
    unit: object  # ControlUnit
    kind: str
    title: str
    control_map: Image.Image  # ControlNet: the map at the job's size; IP-Adapter: the image
    threshold_a: float
    threshold_b: float
    processor_res: int
    union_type: int | None = None
    net: object = None  # ControlNet units: the module the pipeline calls
    embeds: torch.Tensor | None = None  # IP-Adapter: [uncond, cond] image embeddings


@dataclass
class ControlJob:
    """A pass's prepared units and how the pipeline call uses them."""

    units: list[PreparedUnit]
    nets: list = field(default_factory=list)  # the ControlNet modules, unit order
    cfg: bool = True

    @property
    def controlnet_units(self) -> list[PreparedUnit]:
        return [u for u in self.units if u.kind != IP_ADAPTER]

    @property
    def ip_units(self) -> list[PreparedUnit]:
        return [u for u in self.units if u.kind == IP_ADAPTER]

    @property
    def control_maps(self) -> list[Image.Image]:
        """Each unit's preprocessed control map (IP-Adapter units: the reference image)."""
        return [u.control_map for u in self.units]

    def pipeline(self, pipe, mode: str):
        """The pipeline this pass calls: the ControlNet pipeline of ``mode`` when a
        ControlNet unit acts, else ``pipe`` itself (IP-Adapter works in every SDXL one)."""
        cn = self.controlnet_units
        if not cn:
            return pipe
        nets = [u.net for u in cn]
        return control_view(pipe, mode, make_unit_controlnets(
            nets, [u.unit.control_mode for u in cn], self.cfg))

    def call_kwargs(self, mode: str) -> dict:
        kwargs: dict = {}
        cn = self.controlnet_units
        if cn:
            kwargs["image" if mode == "txt2img" else "control_image"] = \
                [u.control_map for u in cn]
            kwargs["controlnet_conditioning_scale"] = [float(u.unit.weight) for u in cn]
            kwargs["control_guidance_start"] = [float(u.unit.guidance_start) for u in cn]
            kwargs["control_guidance_end"] = [float(u.unit.guidance_end) for u in cn]
        ips = self.ip_units
        if ips:
            kwargs["ip_adapter_image_embeds"] = [
                u.embeds if self.cfg else u.embeds.chunk(2)[1] for u in ips]
        return kwargs

    def set_ip_scales(self, pipe, step: int, steps: int) -> None:
        """IP-Adapter weights for ``step`` of ``steps``: its weight inside its guidance
        window, 0 outside (set before the first step and after each)."""
        ips = self.ip_units
        if not ips:
            return
        frac = step / max(1, steps)
        scales = [float(u.unit.weight) if u.unit.guidance_start <= frac and (
            frac < u.unit.guidance_end or u.unit.guidance_end >= 1) else 0.0 for u in ips]
        from diffusers.models.attention_processor import (IPAdapterAttnProcessor,
                                                          IPAdapterAttnProcessor2_0)

        for proc in pipe.unet.attn_processors.values():
            if isinstance(proc, (IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0)):
                proc.scale = list(scales)

    def params(self) -> dict:
        """sd-webui-controlnet's infotext: ``ControlNet N: "Module: …, Model: …, …"``."""
        out = {}
        for u in self.units:
            fields = [("Module", u.unit.module), ("Model", u.title),
                      ("Weight", float(u.unit.weight)), ("Resize Mode", u.unit.resize_mode),
                      ("Processor Res", u.processor_res), ("Threshold A", u.threshold_a),
                      ("Threshold B", u.threshold_b),
                      ("Guidance Start", float(u.unit.guidance_start)),
                      ("Guidance End", float(u.unit.guidance_end)),
                      ("Pixel Perfect", bool(u.unit.pixel_perfect)),
                      ("Control Mode", u.unit.control_mode)]
            # as the extension: a value of -1 (a threshold the preprocessor does not take)
            # is left out
            out[f"ControlNet {u.index}"] = ", ".join(
                f"{k}: {v}" for k, v in fields if not (isinstance(v, (int, float))
                                                        and not isinstance(v, bool) and v == -1))
        return out


def _thresholds(module: str, a: float, b: float) -> tuple[float, float]:
    """The thresholds the preprocessor used (canny's -1 means 100/200), as recorded."""
    from webui.controlnet.preprocess import CANNY_HIGH, CANNY_LOW

    if module.strip().lower() == "canny":
        return (float(CANNY_LOW) if a < 0 else float(a),
                float(CANNY_HIGH) if b < 0 else float(b))
    return (float(a) if a >= 0 else -1, float(b) if b >= 0 else -1)


def prepare_control(manager, bundle, req, width: int, height: int,
                    default_image: Image.Image | None, crop=None) -> ControlJob | None:
    """The units of ``req`` ready for a pass at ``width`` x ``height``. ``default_image``:
    the picture a unit without an image controls with (img2img/inpaint: the job's init image
    as the pass sees it). ``crop(image) -> image``: applied to a unit's own image first
    (inpaint "Only masked": the same crop as the init image). None when there are no units."""
    units = tuple(getattr(req, "control_units", ()) or ())
    if not units:
        return None
    if len(bundle.controls) != len(units):
        raise RuntimeError("the job's bundle holds other control models than its units")
    prepared = []
    for i, (unit, lc) in enumerate(zip(units, bundle.controls)):
        image = unit.image
        if image is not None and crop is not None:
            image = crop(image)
        if image is None:
            image = default_image
        if image is None:
            raise RequestError(f"ControlNet unit {i}: needs an image")
        image = image.convert("RGB")
        if lc.kind == IP_ADAPTER:
            if not (is_ip_module(unit.module) or unit.module.strip().lower() == "none"):
                raise RequestError(f"ControlNet unit {i}: {lc.label} is an IP-Adapter; its "
                                   f"module must be one of {', '.join(IP_ADAPTER_MODULES)} "
                                   f"(or none), not {unit.module!r}")
            p = PreparedUnit(i, unit, lc.kind, lc.title, image, -1, -1, unit.processor_res)
            p.embeds = ip_embeds(bundle.image_encoder, lc.model, image)
        else:
            if is_ip_module(unit.module):
                raise RequestError(f"ControlNet unit {i}: module {unit.module!r} is for "
                                   f"IP-Adapter models, and {lc.label} is a ControlNet")
            module = manager.preprocessors.canonical(unit.module)
            res = (pixel_perfect_resolution(image, width, height, unit.resize_mode)
                   if unit.pixel_perfect else unit.processor_res)
            ta, tb = _thresholds(module, unit.threshold_a, unit.threshold_b)
            control_map = manager.preprocessors.run(module, image, res, unit.threshold_a,
                                                    unit.threshold_b)
            control_map = fit_control_map(control_map, width, height, unit.resize_mode)
            p = PreparedUnit(i, unit, lc.kind, lc.title, control_map, ta, tb, res)
            p.net = lc.module
            if lc.kind == CONTROLNET_UNION:
                p.union_type = union_type(module)
                if p.union_type >= lc.module.config.num_control_type:
                    raise RequestError(
                        f"ControlNet unit {i}: {lc.label} has "
                        f"{lc.module.config.num_control_type} control types; {module!r} "
                        "needs a ControlNet Union ProMax")
                p.net = UnionAsControlNet(lc.module, p.union_type)
        prepared.append(p)
    return ControlJob(prepared, cfg=req.cfg_scale > 1)


@torch.no_grad()
def ip_embeds(encoder, state_dict: dict, image: Image.Image) -> torch.Tensor:
    """[uncond, cond] image embeddings for an IP-Adapter: the CLIP image embedding (plain
    IP-Adapters; uncond = zeros) or the penultimate hidden states ("plus" ones, whose
    projection is a resampler; uncond = those of a black picture), shaped as diffusers'
    ``ip_adapter_image_embeds`` wants them: (2, 1, …)."""
    size = encoder.config.image_size
    w, h = image.size
    k = size / min(w, h)
    image = image.resize((max(size, round(w * k)), max(size, round(h * k))),
                         Image.Resampling.BICUBIC)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    image = image.crop((left, top, left + size, top + size))
    device, dtype = encoder.device, next(encoder.parameters()).dtype
    x = torch.tensor(list(image.getdata()), dtype=torch.float32).view(size, size, 3) / 255
    x = (x - torch.tensor(_CLIP_MEAN)) / torch.tensor(_CLIP_STD)
    x = x.permute(2, 0, 1)[None].to(device, dtype)
    plus = "proj.weight" not in state_dict["image_proj"]
    if plus:
        cond = encoder(x, output_hidden_states=True).hidden_states[-2]
        uncond = encoder(torch.zeros_like(x), output_hidden_states=True).hidden_states[-2]
    else:
        cond = encoder(x).image_embeds
        uncond = torch.zeros_like(cond)
    return torch.stack([uncond, cond])  # (2, 1, dim) or (2, 1, tokens, dim)
