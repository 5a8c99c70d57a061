"""``TrainingSpec``: one LoRA training request, validated in one place before any work starts.

Like ``webui.request``: a frozen value; ``validate_spec`` returns a new, normalised spec
(images opened as RGB, captions filled in) or raises ``RequestError`` with a clear message.
Nothing is written to disk by validation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from PIL import Image

from webui import imaging
from webui.config import Limits
from webui.errors import RequestError
from webui.request import MAX_SEED, as_float, as_int

MIN_IMAGES, MAX_IMAGES = 3, 50
MAX_TRAIN_STEPS = 100_000
MAX_RANK = 256
DEFAULT_TRIGGER = "ohwx"  # a rare token: CLIP splits it into pieces with little meaning
DEFAULT_CLASS = "person"
DEFAULT_CAPTION = "a photo of {trigger} {class_word}"
#: prior preservation: the caption of the class pictures the base makes (no trigger)
CLASS_CAPTION = "a photo of {class_word}"
MAX_PRIOR_IMAGES = 200
OPTIMIZERS = ("AdamW", "AdamW8bit", "Prodigy")
# what ``<lora:name:w>`` and file systems can both carry: no separators, no ':' '<' '>'
_NAME = re.compile(r"[\w][\w .()+-]*")
_WORD = re.compile(r"[^<>:\n\r\t]+")


@dataclass(frozen=True)
class TrainingSpec:
    """Everything one LoRA training run needs. ``images`` are paths, bytes or PIL images
    before validation and RGB PIL images after it."""

    name: str
    trigger: str = DEFAULT_TRIGGER
    class_word: str = DEFAULT_CLASS
    images: tuple = ()
    captions: tuple[str, ...] = ()  # one per image; empty ones get DEFAULT_CAPTION
    base_model: str | None = None
    steps: int = 500
    rank: int = 16
    alpha: float | None = None  # None: equal to rank (scale 1)
    # kohya's conv_dim / conv_alpha ("LoCon"): LoRA on the UNet's 3x3 convolutions too (0: off)
    conv_rank: int = 0
    conv_alpha: float | None = None
    learning_rate: float = 1e-4
    resolution: int = 1024
    batch_size: int = 1
    gradient_accumulation: int = 1
    train_text_encoders: bool = False
    text_encoder_lr: float | None = None  # None: the learning rate
    optimizer: str = "AdamW"
    min_snr_gamma: float = 5.0  # 0: off (plain MSE)
    seed: int = 0
    # prior preservation (DreamBooth's class-specific prior): pictures of the class word made
    # by the base itself train along with the subject, captioned without the trigger, their
    # loss times ``prior_loss_weight``; ``prior_images`` 0: as many as training pictures
    prior_preservation: bool = False
    prior_images: int = 0
    prior_loss_weight: float = 1.0
    extra: dict = field(default_factory=dict)

    @property
    def network_alpha(self) -> float:
        return float(self.rank if self.alpha is None else self.alpha)

    @property
    def network_conv_alpha(self) -> float:
        return float(self.conv_rank if self.conv_alpha is None else self.conv_alpha)

    @property
    def class_count(self) -> int:
        """How many class pictures prior preservation makes (0 when it is off)."""
        if not self.prior_preservation:
            return 0
        return min(MAX_PRIOR_IMAGES, self.prior_images or len(self.images))

    @property
    def class_caption(self) -> str:
        return CLASS_CAPTION.format(class_word=self.class_word)

    def to_dict(self) -> dict:
        """Every field except the images (for records and the state folder)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "images"}
        out["captions"] = list(self.captions)
        out["image_count"] = len(self.images)
        return out


def check_name(name, lora_dir: Path | str | None) -> str:
    """A LoRA name that is a plain file name and not taken in ``lora_dir``."""
    if not isinstance(name, str) or not name.strip():
        raise RequestError("the LoRA needs a name")
    name = name.strip()
    if "/" in name or "\\" in name or ".." in name:
        raise RequestError(f"LoRA name {name!r} must be a plain name, not a path "
                           "(no '/', '\\' or '..')")
    if not _NAME.fullmatch(name) or len(name) > 120:
        raise RequestError(f"LoRA name {name!r} may use letters, digits, spaces and . _ - + ( ) "
                           "only (at most 120), and must start with a letter or digit")
    if lora_dir is not None:
        folder = Path(lora_dir)
        if folder.is_dir():
            # any file's stem, subfolders included: ``<lora:name>`` also finds sub/name
            taken = {p.stem.lower() for p in folder.rglob("*")}
            if name.lower() in taken:
                raise RequestError(f"a LoRA named {name!r} already exists in {folder}; "
                                   "choose another name")
    return name


def _word(what: str, value, default: str) -> str:
    text = (value if isinstance(value, str) else "").strip() or default
    if not _WORD.fullmatch(text) or len(text) > 80:
        raise RequestError(f"{what} {text!r} must be one line of text without ':', '<' or '>' "
                           "(at most 80 characters)")
    return text


def _ranged(name: str, value, low, high, kind=as_int):
    v = kind(name, value)
    if not low <= v <= high:
        raise RequestError(f"{name} must be between {_num(low)} and {_num(high)}, "
                           f"got {_num(v)}")
    return v


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def validate_spec(spec: TrainingSpec, lora_dir: Path | str | None,
                  limits: Limits | None = None) -> TrainingSpec:
    """Check ``spec`` and return a normalised copy; raise ``RequestError`` otherwise.
    ``lora_dir``: the models' ``Lora`` folder, where the name must be free."""
    limits = limits or Limits()
    name = check_name(spec.name, lora_dir)
    trigger = _word("trigger word", spec.trigger, DEFAULT_TRIGGER)
    class_word = _word("class word", spec.class_word, DEFAULT_CLASS)
    images = list(spec.images or ())
    if not MIN_IMAGES <= len(images) <= MAX_IMAGES:
        raise RequestError(f"training needs {MIN_IMAGES} to {MAX_IMAGES} images, "
                           f"got {len(images)}")
    opened = []
    for i, source in enumerate(images):
        what = f"training image {i + 1}"
        if not isinstance(source, (Image.Image, bytes, str, Path)):
            raise RequestError(f"{what} must be a picture, got {type(source).__name__}")
        img = imaging.open_image(source, max_pixels=limits.max_image_pixels, what=what)
        if min(img.size) < 8:
            raise RequestError(f"{what} is {img.width}x{img.height}: too small to train on")
        opened.append(imaging.to_rgb(img))
    captions = list(spec.captions or ())
    if captions and len(captions) != len(images):
        raise RequestError(f"got {len(captions)} captions for {len(images)} images: give one "
                           "caption per image, or none")
    default = DEFAULT_CAPTION.format(trigger=trigger, class_word=class_word)
    captions = [(c.strip() if isinstance(c, str) else "") or default
                for c in (captions or [""] * len(images))]
    steps = _ranged("steps", spec.steps, 1, MAX_TRAIN_STEPS)
    rank = _ranged("rank", spec.rank, 1, MAX_RANK)
    alpha = None if spec.alpha is None else _ranged("alpha", spec.alpha, 1e-3, 4 * MAX_RANK,
                                                     as_float)
    conv_rank = _ranged("conv rank", spec.conv_rank, 0, MAX_RANK)
    conv_alpha = None if spec.conv_alpha is None else _ranged(
        "conv alpha", spec.conv_alpha, 1e-3, 4 * MAX_RANK, as_float)
    lr = _ranged("learning rate", spec.learning_rate, 1e-7, 10.0, as_float)
    te_lr = None if spec.text_encoder_lr is None else _ranged(
        "text encoder learning rate", spec.text_encoder_lr, 1e-7, 10.0, as_float)
    resolution = _ranged("resolution", spec.resolution, limits.min_size, limits.max_size)
    if resolution % 8:
        raise RequestError(f"resolution must be a multiple of 8, got {resolution}")
    batch = _ranged("batch size", spec.batch_size, 1, max(1, min(len(images),
                                                                 limits.max_batch_size)))
    accum = _ranged("gradient accumulation", spec.gradient_accumulation, 1, 64)
    if spec.optimizer not in OPTIMIZERS:
        raise RequestError(f"unknown optimizer {spec.optimizer!r}; choose one of: "
                           f"{', '.join(OPTIMIZERS)}")
    gamma = _ranged("min-SNR gamma", spec.min_snr_gamma, 0, 100, as_float)
    seed = _ranged("seed", spec.seed, 0, MAX_SEED)
    prior = bool(spec.prior_preservation)
    prior_images = _ranged("prior images", spec.prior_images, 0, MAX_PRIOR_IMAGES)
    prior_weight = _ranged("prior loss weight", spec.prior_loss_weight, 0.01, 10.0, as_float)
    return replace(spec, name=name, trigger=trigger, class_word=class_word,
                   images=tuple(opened), captions=tuple(captions), steps=steps, rank=rank,
                   alpha=alpha, conv_rank=conv_rank, conv_alpha=conv_alpha, learning_rate=lr, text_encoder_lr=te_lr,
                   resolution=resolution, batch_size=batch, gradient_accumulation=accum,
                   train_text_encoders=bool(spec.train_text_encoders), min_snr_gamma=gamma,
                   seed=seed, prior_preservation=prior, prior_images=prior_images,
                   prior_loss_weight=prior_weight)
