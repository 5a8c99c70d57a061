"""The trained LoRA as a file other SDXL tools load unchanged: kohya-ss key names
(``lora_unet_…`` on SDXL's original "sgm" block names, ``lora_te1_…``, ``lora_te2_…``, each
with its true ``.alpha``) and kohya's ``ss_*`` plus Stability's ``modelspec.*`` metadata.
Written to a temporary file in the same folder and then linked into place, so ``models/Lora``
never holds a half-written LoRA and an existing one is never overwritten.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import torch

from webui.errors import RequestError

#: module attribute on the pipeline -> the prefix diffusers' converters expect before keys
PARTS = ("unet", "text_encoder", "text_encoder_2")


#: ResnetBlock2D layer names in diffusers -> in SDXL's original blocks
_RESNET_SGM = {"conv1": "in_layers.2", "conv2": "out_layers.3", "time_emb_proj": "emb_layers.1",
               "conv_shortcut": "skip_connection"}


def _sgm_unet_key(key: str, layers_per_block: int, has_attention=lambda up_block: True
                  ) -> str | None:
    """A diffusers UNet attention path (``down_blocks.1.attentions.0.…``) in SDXL's original
    block numbering (``input_blocks.4.1.…``), as kohya-ss names SDXL LoRAs; None when the
    path is not inside an attention block."""
    per = layers_per_block + 1  # each down/up level: its layers and a down/upsampler
    m = re.match(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.*)", key)
    if m:
        return f"input_blocks.{1 + int(m[1]) * per + int(m[2])}.1.{m[3]}"
    m = re.match(r"mid_block\.attentions\.0\.(.*)", key)
    if m:
        return f"middle_block.1.{m[1]}"
    m = re.match(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.*)", key)
    if m:
        return f"output_blocks.{int(m[1]) * per + int(m[2])}.1.{m[3]}"
    # LoCon: ResnetBlock2D layers and the down/upsamplers' convolutions
    m = re.match(r"(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)\.(lora_.*)", key)
    if m and m[4] in _RESNET_SGM:
        block = (1 + int(m[2]) * per + int(m[3]) if m[1] == "down"
                 else int(m[2]) * per + int(m[3]))
        return f"{'input' if m[1] == 'down' else 'output'}_blocks.{block}.0." \
               f"{_RESNET_SGM[m[4]]}.{m[5]}"
    m = re.match(r"mid_block\.resnets\.([01])\.(\w+)\.(lora_.*)", key)
    if m and m[2] in _RESNET_SGM:
        return f"middle_block.{2 * int(m[1])}.{_RESNET_SGM[m[2]]}.{m[3]}"
    m = re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(lora_.*)", key)
    if m:
        return f"input_blocks.{1 + int(m[1]) * per + layers_per_block}.0.op.{m[2]}"
    # an upsampler is the third part of its output block (after the attention) in SDXL's
    # blocks; diffusers reads index 2 as the upsampler, so blocks without attention stay out
    m = re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(lora_.*)", key)
    if m and has_attention(int(m[1])):
        return f"output_blocks.{int(m[1]) * per + layers_per_block}.2.conv.{m[2]}"
    return None


def to_kohya(parts: dict[str, dict[str, torch.Tensor]], alpha: float,
             layers_per_block: int | None = None, conv_alpha: float | None = None,
             up_block_types: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """PEFT state dicts (``{"unet": {...lora_A.weight...}, "text_encoder": ...}``) as one
    kohya state dict with ``.alpha`` = ``alpha`` for every module. UNet keys use SGM block
    names when every key maps (they do for attention-only LoRAs), else diffusers' names
    (which A1111, ComfyUI and diffusers also read; the two are never mixed, as diffusers
    drops the SGM keys of a mixed file)."""
    from diffusers.utils import convert_state_dict_to_kohya

    unet = parts.get("unet") or {}
    if isinstance(layers_per_block, int) and unet:
        def has_attention(i: int) -> bool:
            return i < len(up_block_types) and "CrossAttn" in up_block_types[i]

        mapped = {k: _sgm_unet_key(k, layers_per_block, has_attention) for k in unet}
        if all(mapped.values()):
            unet = {mapped[k]: v for k, v in unet.items()}
    flat: dict[str, torch.Tensor] = {f"unet.{k}": v for k, v in unet.items()}
    for name in ("text_encoder", "text_encoder_2"):
        flat.update({f"{name}.{k}": v for k, v in (parts.get(name) or {}).items()})
    if not flat:
        raise ValueError("the LoRA has no weights")
    kohya = convert_state_dict_to_kohya(flat)
    out = {}
    for key, value in kohya.items():
        if key.endswith(".alpha"):  # the converter writes the rank: the true alpha instead
            down = kohya[key[:-len("alpha")] + "lora_down.weight"]
            conv3 = down.ndim == 4 and down.shape[-1] > 1
            value = torch.tensor(float(conv_alpha if conv3 and conv_alpha else alpha))
        out[key] = value.detach().to("cpu").contiguous()
    return out


def tensors_hash(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of the file's tensor data (everything after the safetensors header): A1111's
    "addnet" LoRA hash and kohya's ``sshs_model_hash``; metadata does not change it."""
    from safetensors.torch import save

    data = save(tensors)
    n = int.from_bytes(data[:8], "little")
    return hashlib.sha256(data[8 + n:]).hexdigest()


def tag_frequency(trigger: str, class_word: str, captions: list[str]) -> dict:
    """kohya's ``ss_tag_frequency``: {"<repeats>_<folder>": {tag: count}}, the trigger word
    first and counted once per image, so pickers show it as the LoRA's trigger word."""
    counts: dict[str, int] = {trigger: len(captions)}
    for caption in captions:
        for tag in (t.strip() for t in caption.split(",")):
            if tag and tag != trigger:
                counts[tag] = counts.get(tag, 0) + 1
    return {f"1_{trigger} {class_word}": counts}


def metadata(spec, *, steps_done: int, started: float, finished: float,
             prediction_type: str = "epsilon", base_name: str | None = None,
             base_sha256: str | None = None, optimizer: str = "AdamW",
             tensors_sha256: str | None = None, mixed_precision: str = "no",
             gradient_checkpointing: bool = False) -> dict[str, str]:
    """``ss_*`` (kohya-ss) and ``modelspec.*`` (Stability's model spec) metadata, all
    strings as safetensors requires."""
    n = len(spec.captions)
    n_reg = getattr(spec, "class_count", 0)
    # with prior preservation an epoch also takes n class pictures (kohya's reg images)
    batches_per_epoch = max(1, -(-(2 * n if n_reg else n) // spec.batch_size))
    epochs = max(1, -(-steps_done * spec.gradient_accumulation // batches_per_epoch))
    resolution = f"({spec.resolution}, {spec.resolution})"
    te_lr = spec.text_encoder_lr if spec.text_encoder_lr is not None else spec.learning_rate
    meta = {
        "ss_output_name": spec.name,
        "ss_training_comment": f"trigger: {spec.trigger}",
        "ss_session_id": str(spec.seed),
        "ss_training_started_at": f"{started:.3f}",
        "ss_training_finished_at": f"{finished:.3f}",
        "ss_base_model_version": "sdxl_base_v1-0",
        "ss_v2": "False",
        "ss_v_parameterization": str(prediction_type == "v_prediction"),
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(spec.rank),
        "ss_network_alpha": f"{spec.network_alpha:g}",
        "ss_network_args": json.dumps(
            {"conv_dim": str(spec.conv_rank), "conv_alpha": f"{spec.network_conv_alpha:g}"}
            if spec.conv_rank else {}),
        "ss_learning_rate": f"{spec.learning_rate:g}",
        "ss_unet_lr": f"{spec.learning_rate:g}",
        "ss_text_encoder_lr": f"{te_lr:g}" if spec.train_text_encoders else "0",
        "ss_network_train_unet_only": str(not spec.train_text_encoders),
        "ss_max_train_steps": str(spec.steps),
        "ss_steps": str(steps_done),
        "ss_epoch": str(epochs),
        "ss_num_epochs": str(epochs),
        "ss_num_train_images": str(n),
        "ss_num_reg_images": str(n_reg),
        "ss_prior_loss_weight": f"{spec.prior_loss_weight:g}" if n_reg else "1.0",
        "ss_num_batches_per_epoch": str(batches_per_epoch),
        "ss_batch_size_per_device": str(spec.batch_size),
        "ss_total_batch_size": str(spec.batch_size * spec.gradient_accumulation),
        "ss_gradient_accumulation_steps": str(spec.gradient_accumulation),
        "ss_gradient_checkpointing": str(gradient_checkpointing),
        "ss_lr_scheduler": "constant",
        "ss_lr_warmup_steps": "0",
        "ss_optimizer": optimizer,
        "ss_min_snr_gamma": f"{spec.min_snr_gamma:g}" if spec.min_snr_gamma else "None",
        "ss_mixed_precision": mixed_precision,
        "ss_full_fp16": "False",
        "ss_cache_latents": "True",
        "ss_enable_bucket": "True",
        "ss_resolution": resolution,
        "ss_seed": str(spec.seed),
        "ss_clip_skip": "None",
        "ss_caption_dropout_rate": "0.0",
        "ss_noise_offset": "None",
        "ss_tag_frequency": json.dumps(tag_frequency(spec.trigger, spec.class_word,
                                                     list(spec.captions))),
        "ss_dataset_dirs": json.dumps({f"1_{spec.trigger} {spec.class_word}": {
            "n_repeats": 1, "img_count": n}}),
        "ss_reg_dataset_dirs": json.dumps({f"1_{spec.class_word}": {
            "n_repeats": 1, "img_count": n_reg}} if n_reg else {}),
        "modelspec.sai_model_spec": "1.0.1",
        "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
        "modelspec.implementation": "https://github.com/Stability-AI/generative-models",
        "modelspec.title": spec.name,
        "modelspec.resolution": f"{spec.resolution}x{spec.resolution}",
        "modelspec.date": datetime.datetime.fromtimestamp(
            int(finished), datetime.timezone.utc).isoformat(),
        "modelspec.prediction_type": "v" if prediction_type == "v_prediction" else "epsilon",
        "modelspec.trigger_phrase": spec.trigger,
        "modelspec.usage_hint": f"Use the trigger word '{spec.trigger}' in the prompt, e.g. "
                                f"\"{spec.captions[0] if spec.captions else spec.trigger}\"",
    }
    if base_name:
        meta["ss_sd_model_name"] = base_name
    if base_sha256:
        meta["ss_new_sd_model_hash"] = base_sha256
        meta["ss_sd_model_hash"] = base_sha256[:10]
    if tensors_sha256:
        meta["sshs_model_hash"] = tensors_sha256
        meta["modelspec.hash_sha256"] = "0x" + tensors_sha256
    return meta


def write_lora(lora_dir: Path | str, name: str, tensors: dict[str, torch.Tensor],
               meta: dict[str, str]) -> Path:
    """Write ``<lora_dir>/<name>.safetensors`` through a temporary file in the same folder
    (a name no LoRA picker lists), then link it into place: a crash leaves no partial
    LoRA, and a file of that name made meanwhile is never overwritten (``RequestError``)."""
    from safetensors.torch import save_file

    folder = Path(lora_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.safetensors"
    if target.exists():
        raise RequestError(f"a LoRA named {name!r} already exists in {folder}")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".partial")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        try:
            os.link(tmp, target)  # fails if the name was taken meanwhile
        except FileExistsError:
            raise RequestError(f"a LoRA named {name!r} already exists in {folder}") from None
        except OSError:  # a file system without hard links
            if target.exists():
                raise RequestError(f"a LoRA named {name!r} already exists in {folder}") from None
            os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
