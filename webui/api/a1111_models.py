"""Request and response bodies of AUTOMATIC1111's ``/sdapi/v1`` API (v1.10 field names).

Every request field is optional (A1111 clients send ``null`` freely) and unknown fields are
ignored, as A1111 does, so clients that send extra keys (SillyTavern, extension fields) work.
Fields this app does not use (``restore_faces``, ``eta``, ``subseed``...) are accepted and
echoed back in ``parameters`` but change nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_LENIENT = ConfigDict(extra="ignore", allow_inf_nan=False, populate_by_name=True)


class _Processing(BaseModel):
    """Fields txt2img and img2img share (A1111's ``StableDiffusionProcessing``)."""

    model_config = _LENIENT

    prompt: str | None = ""
    negative_prompt: str | None = ""
    styles: list[str] | None = None
    seed: int | None = -1
    subseed: int | None = -1
    subseed_strength: float | None = 0
    seed_resize_from_h: int | None = -1
    seed_resize_from_w: int | None = -1
    sampler_name: str | None = None
    sampler_index: str | None = "Euler"
    scheduler: str | None = None
    batch_size: int | None = 1
    n_iter: int | None = 1
    steps: int | None = 50
    cfg_scale: float | None = 7.0
    width: int | None = 512
    height: int | None = 512
    restore_faces: bool | None = None
    tiling: bool | None = None
    do_not_save_samples: bool | None = False
    do_not_save_grid: bool | None = False
    eta: float | None = None
    denoising_strength: float | None = None
    s_min_uncond: float | None = None
    s_churn: float | None = None
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = None
    override_settings: dict[str, Any] | None = None
    override_settings_restore_afterwards: bool | None = True
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None
    disable_extra_networks: bool | None = False
    firstpass_image: str | None = None
    comments: dict | None = None
    script_name: str | None = None
    script_args: list | None = Field(default_factory=list)
    send_images: bool | None = True
    save_images: bool | None = False
    alwayson_scripts: dict | None = Field(default_factory=dict)
    force_task_id: str | None = None
    infotext: str | None = None


class Txt2ImgRequest(_Processing):
    """``POST /sdapi/v1/txt2img``."""

    enable_hr: bool | None = False
    firstphase_width: int | None = 0
    firstphase_height: int | None = 0
    hr_scale: float | None = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int | None = 0
    hr_resize_x: int | None = 0
    hr_resize_y: int | None = 0
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str | None = ""
    hr_negative_prompt: str | None = ""


class Img2ImgRequest(_Processing):
    """``POST /sdapi/v1/img2img``: ``mask`` given means inpainting (white = repaint)."""

    init_images: list[str] | None = None
    resize_mode: int | None = 0
    image_cfg_scale: float | None = None
    mask: str | None = None
    mask_blur_x: int | None = 4
    mask_blur_y: int | None = 4
    mask_blur: int | None = None
    mask_round: bool | None = True
    inpainting_fill: int | None = 0
    inpaint_full_res: bool | int | None = True
    inpaint_full_res_padding: int | None = 0
    inpainting_mask_invert: int | bool | None = 0
    initial_noise_multiplier: float | None = None
    latent_mask: str | None = None
    include_init_images: bool | None = False


class ImageResponse(BaseModel):
    """What txt2img and img2img answer: raw base64 PNGs carrying their infotext, the request as
    understood, and ``info`` (a JSON string: prompt, seeds, size, sampler, model, infotexts)."""

    images: list[str] | None = Field(default=None, description="Raw base64 PNGs.")
    parameters: dict
    info: str


class PNGInfoRequest(BaseModel):
    model_config = _LENIENT
    image: str = Field(description="A base64 image (raw or data URL).")


class PNGInfoResponse(BaseModel):
    info: str = Field(description="The generation parameters as an A1111 infotext.")
    items: dict = Field(description="Every other text chunk of the image.")
    parameters: dict = Field(description="The infotext parsed into A1111 labels.")


class ProgressResponse(BaseModel):
    progress: float = Field(description="0 to 1, of the caller's own job.")
    eta_relative: float
    state: dict
    current_image: str | None = None
    textinfo: str | None = None


class SamplerItem(BaseModel):
    name: str
    aliases: list[str]
    options: dict[str, Any]


class SchedulerItem(BaseModel):
    name: str
    label: str
    aliases: list[str] | None = None
    default_rho: float | None = None
    need_inner_model: bool | None = None


class UpscalerItem(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    name: str
    model_name: str | None = None
    model_path: str | None = None
    model_url: str | None = None
    scale: float | None = None


class RealesrganItem(BaseModel):
    name: str
    path: str | None = None
    scale: int | None = None


class LatentUpscalerModeItem(BaseModel):
    name: str


class SDModelItem(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    title: str
    model_name: str
    hash: str | None = None
    sha256: str | None = None
    filename: str
    config: str | None = None


class SDVaeItem(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    model_name: str
    filename: str


class LoraItem(BaseModel):
    name: str
    alias: str
    path: str
    metadata: dict = Field(default_factory=dict)


class PromptStyleItem(BaseModel):
    name: str
    prompt: str | None = None
    negative_prompt: str | None = None


class FaceRestorerItem(BaseModel):
    name: str
    cmd_dir: str | None = None


class ExtensionItem(BaseModel):
    name: str
    remote: str = ""
    branch: str = ""
    commit_hash: str = ""
    version: str = ""
    commit_date: int = 0
    enabled: bool = True
    state: str = "loaded"  # loaded | disabled | error (this app's)
    error: str = ""  # why it failed to load or was switched off


class EmbeddingsResponse(BaseModel):
    loaded: dict[str, Any] = Field(default_factory=dict)
    skipped: dict[str, Any] = Field(default_factory=dict)


class ScriptsList(BaseModel):
    txt2img: list = Field(default_factory=list)
    img2img: list = Field(default_factory=list)


class MemoryResponse(BaseModel):
    ram: dict
    cuda: dict
