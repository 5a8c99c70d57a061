"""The LoRA trainer: our own loop on peft and diffusers' training utilities, in-process, on
the pipeline the model manager already holds.

    with LoraTraining(pipe, spec, state_dir) as run:   # adapter injected, caches built
        outcome = run.train(progress=cb, should_stop=flag.is_set)
        path = run.save(lora_dir, base_name=..., base_sha256=...)
    # here the pipeline is exactly as it was (no adapter, same flags, same device)

The caller hands in the manager's pipeline with its modules where training should run, e.g.
``with manager.prepare(JobModels(checkpoint)) as bundle: train_lora(bundle.base.pipe, ...)``
(the manager's lock then holds generation back until training ends). Modules are never
moved; the VAE is cast to fp32 for the latents and back.

What it does, and why:

* Latents (the VAE's posterior mean and spread, VAE in fp32) and, unless the text encoders
  train, the text embeddings are computed once; a step then needs only the UNet.
* LoRA weights are fp32 (``cast_training_params``) while the base may be fp16/bf16 under
  autocast; gradient checkpointing on CUDA; AdamW (8-bit when ``bitsandbytes`` and CUDA
  are there), Prodigy when installed and asked for.
* The loss follows the scheduler's ``prediction_type`` (epsilon or v) with min-SNR
  weighting (``compute_snr``).
* Prior preservation (DreamBooth's class-specific prior, kohya's regularisation images):
  on entry, before the adapter exists, the base itself draws ``"a photo of <class>"`` from
  seeds of the run's seed (``run.class_images``, for the caller to keep); each epoch then
  trains on every training picture and as many class pictures (captioned without the
  trigger, their loss times ``prior_loss_weight``).
* Deterministic: the adapter's initial weights, the batch order and each step's noise and
  timesteps are functions of the seed and the step number, so a run stopped at step k and
  resumed from its saved state ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from webui.errors import RequestError
from webui.training import data as tdata
from webui.training import lora_file
from webui.training.guard import ModuleGuard, set_checkpointing, tuner_layers
from webui.training.spec import TrainingSpec

log = logging.getLogger(__name__)

ADAPTER = "webui_training"
#: kohya-ss' default LoRA targets for SDXL: every Linear of the UNet's transformer blocks,
#: and the text encoders' attention and MLP layers
UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out",
                "ff.net.0.proj", "ff.net.2"]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
#: with a conv rank (kohya's conv_dim, "LoCon"): the ResnetBlock2D layers and the samplers'
#: convolutions too; the 3x3 ones take the conv rank, the 1x1 and Linear ones the rank
CONV3_TARGETS = ["conv1", "conv2", "conv"]
RESNET_LINEAR_TARGETS = ["time_emb_proj", "conv_shortcut"]
MAX_GRAD_NORM = 1.0
#: prior preservation: denoising steps and guidance of the class pictures the base makes
CLASS_STEPS = 20
CLASS_GUIDANCE = 5.0
STATE_FILES = ("adapter.safetensors", "optimizer.pt", "state.json")

ProgressFn = Callable[[int, int, float], None]
ClassProgressFn = Callable[[int, int], None]


@dataclass
class TrainOutcome:
    """What a ``train`` call reached."""

    step: int  # optimizer steps done in total (resumed ones included)
    total_steps: int
    losses: list[float] = field(default_factory=list)  # one per optimizer step, from step 1
    stopped: bool = False
    seconds: float = 0.0  # this call's training time (caching excluded)
    optimizer: str = "AdamW"

    @property
    def done(self) -> bool:
        return self.step >= self.total_steps


def _step_seed(seed: int, micro_step: int) -> int:
    return (seed * 1_000_003 + micro_step * 7_919 + 17) % (2**63 - 1)


def class_seed(seed: int, index: int) -> int:
    """The seed of class picture ``index`` for a run of seed ``seed``."""
    return (seed * 1_000_033 + 1_000_000_007 + index) % (2**32)


def _digest(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.contiguous().numpy().tobytes()).hexdigest()[:16]


class LoraTraining:
    """One LoRA training run on ``pipe``'s own modules; a context manager that gives the
    pipeline back exactly as it found it."""

    def __init__(self, pipe, spec: TrainingSpec, state_dir: Path | str, *,
                 on_class_image: ClassProgressFn | None = None,
                 gradient_checkpointing: bool | None = None):
        """``on_class_image(done, total)`` hears each class picture prior preservation
        makes on entry (it may raise to abort; the pipeline is then given back).
        ``gradient_checkpointing``: None for on CUDA only (on a CPU memory is not the
        limit and it costs a third more time); True or False to force it."""
        if getattr(pipe, "text_encoder", None) is None or getattr(pipe, "unet", None) is None:
            raise RequestError("LoRA training needs an SDXL base checkpoint (a UNet and two "
                               "text encoders); a refiner cannot be trained here")
        if getattr(pipe.unet.config, "in_channels", 4) != 4:
            raise RequestError("LoRA training needs an SDXL base checkpoint, not an "
                               "inpainting one")
        self.pipe = pipe
        self.spec = spec
        self.state_dir = Path(state_dir)
        unet = pipe.unet
        self.device = next(unet.parameters()).device
        self.dtype = next(unet.parameters()).dtype
        self.te_names = [n for n in ("text_encoder", "text_encoder_2")
                         if getattr(pipe, n, None) is not None]
        self.trained = ["unet"] + (self.te_names if spec.train_text_encoders else [])
        from diffusers import DDPMScheduler

        # a training twin of the pipeline's scheduler: the pipeline's own is never touched
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.prediction_type = self.noise_scheduler.config.prediction_type
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise RequestError(f"cannot train a model whose prediction type is "
                               f"{self.prediction_type!r} (epsilon or v_prediction only)")
        self.checkpointing = (self.device.type == "cuda" if gradient_checkpointing is None
                              else bool(gradient_checkpointing))
        self._guards: dict[str, ModuleGuard] = {}
        self._active = False
        self.examples: list[tdata.Example] = []  # the training pictures, then the class ones
        self.instance_count = len(spec.images)
        self.class_images: list = []  # prior preservation: the base's class pictures (PIL)
        self._on_class_image = on_class_image
        self._loss_weights: list[float] = []
        self._latents: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._embeds: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.optimizer = None
        self.optimizer_name = spec.optimizer
        self.scaler = None

    # -- borrowing the pipeline --------------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        names = ("unet", "vae", *self.te_names)
        return {n: getattr(self.pipe, n) for n in names if getattr(self.pipe, n, None) is not None}

    def __enter__(self) -> LoraTraining:
        self._guards = {name: ModuleGuard(m) for name, m in self.modules().items()}
        self._active = True
        try:
            # caches come from the base alone: any LoRA the app left active is off here
            for module in self.modules().values():
                for layer in tuner_layers(module):
                    layer._active_adapter = [ADAPTER]
            if self.spec.prior_preservation:
                self.class_images = self._make_class_images()
            self._build_caches()
            self._inject()
            self._make_optimizer()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if not self._active:
            return
        self._active = False
        self.optimizer = None
        for guard in self._guards.values():
            guard.restore(ADAPTER)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def changes(self) -> dict[str, list[str]]:
        """What still differs in each borrowed module from before (empty after exit)."""
        return {n: c for n, g in self._guards.items() if (c := g.changes())}

    # -- caches ----------------------------------------------------------------------------------
    def _latent_multiple(self) -> int:
        vae_scale = 2 ** (len(self.pipe.vae.config.block_out_channels) - 1)
        return vae_scale * 2 ** (len(self.pipe.unet.config.block_out_channels) - 1)

    @torch.no_grad()
    def _make_class_images(self) -> list:
        """Prior preservation's class pictures, made by the base alone (before the adapter
        is injected; the app's LoRAs are off): ``spec.class_caption`` at the training
        resolution, seeds from the run's seed, so a resumed run gets the same ones."""
        spec = self.spec
        for module in self.modules().values():
            module.eval()
        images = []
        for k in range(spec.class_count):
            images += txt2img_images(self.pipe, spec.class_caption, [class_seed(spec.seed, k)],
                                     CLASS_STEPS, spec.resolution, CLASS_GUIDANCE)
            if self._on_class_image is not None:
                self._on_class_image(k + 1, spec.class_count)
        return images

    @torch.no_grad()
    def _build_caches(self) -> None:
        spec = self.spec
        multiple = max(self._latent_multiple(), 8)
        self.examples = tdata.make_examples(spec.images, spec.captions, spec.resolution,
                                            multiple)
        self.examples += tdata.make_examples(self.class_images,
                                             [spec.class_caption] * len(self.class_images),
                                             spec.resolution, multiple)
        self._loss_weights = ([1.0] * self.instance_count
                              + [spec.prior_loss_weight] * len(self.class_images))
        vae = self.pipe.vae
        vae_device = next(vae.parameters()).device
        # the VAE runs in fp32 (SDXL's fp16 VAE overflows to NaN); its guard casts it back
        if next(vae.parameters()).dtype != torch.float32:
            vae.to(dtype=torch.float32)
        self._latents = []
        for ex in self.examples:
            dist = vae.encode(ex.pixels[None].to(vae_device, torch.float32)).latent_dist
            self._latents.append((dist.mean.float().cpu(), dist.std.float().cpu()))
        guard = self._guards["vae"]
        if next(vae.parameters()).dtype != guard.dtype:
            vae.to(dtype=guard.dtype)
        if not spec.train_text_encoders:
            for caption in sorted({ex.caption for ex in self.examples}):
                embeds, pooled = self._encode([caption])
                self._embeds[caption] = (embeds.cpu(), pooled.cpu())

    def _encode(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The pipeline's own SDXL prompt encoding (penultimate layers of both encoders,
        pooled from the second), with gradients when the encoders train."""
        embeds, _, pooled, _ = self.pipe.encode_prompt(
            captions, device=self.device, num_images_per_prompt=1,
            do_classifier_free_guidance=False)
        return embeds, pooled

    def scaled_latents(self, index: int, eps: torch.Tensor | None) -> torch.Tensor:
        """A latent of example ``index``: a draw from its cached posterior (its mean when
        ``eps`` is None), shifted and scaled as the UNet sees latents."""
        mean, std = self._latents[index]
        z = mean if eps is None else mean + std * eps
        offset, scale = _latent_stats(self.pipe.vae, z)
        return (z - offset) * scale

    # -- adapter and optimizer ------------------------------------------------------------------
    def _inject(self) -> None:
        from diffusers.training_utils import cast_training_params
        from peft import LoraConfig, inject_adapter_in_model

        spec = self.spec
        # the adapter's initial weights come from the seed, without touching the global RNG
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            for name in self.trained:
                module = getattr(self.pipe, name)
                targets = UNET_TARGETS if name == "unet" else TEXT_TARGETS
                ranks, alphas = {}, {}
                if name == "unet" and spec.conv_rank:
                    targets = targets + CONV3_TARGETS + RESNET_LINEAR_TARGETS
                    ranks = {t: spec.conv_rank for t in CONV3_TARGETS}
                    alphas = {t: spec.network_conv_alpha for t in CONV3_TARGETS}
                config = LoraConfig(r=spec.rank, lora_alpha=spec.network_alpha,
                                    target_modules=targets, init_lora_weights=True,
                                    rank_pattern=ranks, alpha_pattern=alphas)
                with warnings.catch_warnings():
                    # expected when the app's LoRAs are loaded: ours joins them, named apart
                    warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                    inject_adapter_in_model(config, module, adapter_name=ADAPTER)
        for name, module in self.modules().items():
            for layer in tuner_layers(module):
                layer._active_adapter = [ADAPTER]
                layer._disable_adapters = False
            module.requires_grad_(False)
            if name in self.trained:
                for pname, p in module.named_parameters():
                    if f".{ADAPTER}." in pname:
                        p.requires_grad_(True)
                cast_training_params(module, dtype=torch.float32)
                module.train()
                if self.checkpointing:
                    set_checkpointing(module, True)
            else:
                module.eval()

    def trainable(self, name: str) -> list[torch.nn.Parameter]:
        module = getattr(self.pipe, name)
        return [p for n, p in module.named_parameters() if f".{ADAPTER}." in n]

    def _make_optimizer(self) -> None:
        spec = self.spec
        groups = [{"params": self.trainable("unet"), "lr": spec.learning_rate}]
        te_lr = spec.text_encoder_lr if spec.text_encoder_lr is not None else spec.learning_rate
        for name in self.trained[1:]:
            groups.append({"params": self.trainable(name), "lr": te_lr})
        self.optimizer, self.optimizer_name = self._optimizer(groups)
        # fp16 autocast: the loss is scaled so small gradients do not flush to zero in the
        # fp16 backward (whatever the optimizer; the LoRA weights themselves are fp32).
        # bf16 has fp32's range and needs none.
        self.scaler = (torch.amp.GradScaler("cuda")
                       if self.device.type == "cuda" and self.dtype == torch.float16 else None)

    def _optimizer(self, groups) -> tuple[torch.optim.Optimizer, str]:
        spec = self.spec
        if spec.optimizer == "Prodigy":
            try:
                from prodigyopt import Prodigy
            except ImportError:
                raise RequestError("the Prodigy optimizer is not installed "
                                   "(pip install prodigyopt); choose AdamW") from None
            return Prodigy(groups, weight_decay=1e-2), "Prodigy"
        bnb = None
        if self.device.type == "cuda":
            with contextlib.suppress(ImportError):
                import bitsandbytes as bnb
        if bnb is not None:  # 8-bit Adam states: a quarter of the optimizer memory
            return bnb.optim.AdamW8bit(groups, weight_decay=1e-2), "AdamW8bit"
        if spec.optimizer == "AdamW8bit":
            log.info("8-bit AdamW needs bitsandbytes and CUDA; using AdamW")
        return torch.optim.AdamW(groups, weight_decay=1e-2), "AdamW"

    # -- one step --------------------------------------------------------------------------------
    def _autocast(self):
        if self.device.type == "cuda" and self.dtype in (torch.float16, torch.bfloat16):
            return torch.autocast("cuda", dtype=self.dtype)
        return contextlib.nullcontext()

    def _conditioning(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        captions = [self.examples[i].caption for i in indices]
        if self.spec.train_text_encoders:
            with self._autocast():
                return self._encode(captions)
        embeds = torch.cat([self._embeds[c][0] for c in captions]).to(self.device)
        pooled = torch.cat([self._embeds[c][1] for c in captions]).to(self.device)
        return embeds, pooled

    def _predict(self, indices: list[int], latents: torch.Tensor, noise: torch.Tensor,
                 timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(model prediction, target) in fp32 for noise ``noise`` at ``timesteps``."""
        sched = self.noise_scheduler
        noisy = sched.add_noise(latents, noise, timesteps)
        embeds, pooled = self._conditioning(indices)
        time_ids = torch.tensor([self.examples[i].time_ids for i in indices],
                                dtype=torch.float32, device=self.device)
        with self._autocast():
            pred = self.pipe.unet(
                noisy.to(self.device, self.dtype), timesteps.to(self.device),
                encoder_hidden_states=embeds.to(self.dtype),
                added_cond_kwargs={"text_embeds": pooled.to(self.dtype),
                                   "time_ids": time_ids.to(self.dtype)},
                return_dict=False)[0]
        if self.prediction_type == "v_prediction":
            target = sched.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        return pred.float(), target.to(self.device).float()

    def _loss(self, pred: torch.Tensor, target: torch.Tensor, timesteps: torch.Tensor,
              indices: list[int] | None = None):
        """The batch's mean loss; with prior preservation each class picture's loss is
        weighted by ``prior_loss_weight`` (``indices``: the batch's examples)."""
        per_sample = ((pred - target) ** 2).mean(dim=(1, 2, 3))
        if indices is not None and self.class_images:
            per_sample = per_sample * torch.tensor([self._loss_weights[i] for i in indices],
                                                   device=per_sample.device)
        gamma = self.spec.min_snr_gamma
        if gamma:
            from diffusers.training_utils import compute_snr

            snr = compute_snr(self.noise_scheduler, timesteps).to(per_sample.device)
            weight = torch.clamp(snr, max=gamma)
            # min-SNR-γ (Hang et al. 2023): the weight per target; v's SNR is snr + 1
            weight = weight / (snr + 1 if self.prediction_type == "v_prediction" else snr)
            per_sample = per_sample * weight
        return per_sample.mean()

    def _draw(self, indices: list[int], gen: torch.Generator):
        shape = self._latents[indices[0]][0].shape[1:]
        eps = torch.randn((len(indices), *shape), generator=gen)
        latents = torch.cat([self.scaled_latents(i, eps[k:k + 1])
                             for k, i in enumerate(indices)])
        noise = torch.randn(latents.shape, generator=gen)
        timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps,
                                  (len(indices),), generator=gen)
        return latents, noise, timesteps

    def _epoch_members(self, epoch: int) -> list[int]:
        """The examples of one epoch: every training picture and, with prior preservation,
        as many class pictures, taken in turn across epochs (kohya's regularisation
        images)."""
        n, m = self.instance_count, len(self.class_images)
        members = list(range(n))
        if m:
            members += [n + (epoch * n + k) % m for k in range(n)]
        return members

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        members = self._epoch_members(epoch)
        order = tdata.batch_order([self.examples[i].target_size for i in members],
                                  self.spec.batch_size, self.spec.seed, epoch)
        return [[members[j] for j in batch] for batch in order]

    def _batch(self, micro_step: int) -> list[int]:
        # every epoch has the same number of batches: the class pictures share one size
        per_epoch = len(self._epoch_batches(0))
        epoch, pos = divmod(micro_step, per_epoch)
        return self._epoch_batches(epoch)[pos]

    # -- the loop ---------------------------------------------------------------------------------
    def train(self, progress: ProgressFn | None = None,
              should_stop: Callable[[], bool] | None = None, resume: bool = True,
              sample_every: int = 0, on_sample: Callable[[int], None] | None = None
              ) -> TrainOutcome:
        """Train up to ``spec.steps`` optimizer steps; continue from the state folder when
        ``resume`` and a state is there. ``should_stop`` is asked before every step: when it
        says yes the state reached is saved and the outcome says ``stopped``. ``progress``
        hears (step, total, loss) after each step; ``on_sample(step)`` runs every
        ``sample_every`` steps with the adapter live and the modules in eval mode."""
        if not self._active:
            raise RuntimeError("use LoraTraining as a context manager")
        spec = self.spec
        step, losses = self.load_state() if resume else (0, [])
        outcome = TrainOutcome(step, spec.steps, losses, optimizer=self.optimizer_name)
        params = [p for n in self.trained for p in self.trainable(n)]
        started = time.perf_counter()
        while step < spec.steps:
            if should_stop is not None and should_stop():
                outcome.stopped = True
                break
            self.optimizer.zero_grad(set_to_none=True)
            total = 0.0
            for a in range(spec.gradient_accumulation):
                micro = step * spec.gradient_accumulation + a
                indices = self._batch(micro)
                gen = torch.Generator().manual_seed(_step_seed(spec.seed, micro))
                latents, noise, timesteps = self._draw(indices, gen)
                latents, noise = latents.to(self.device), noise.to(self.device)
                pred, target = self._predict(indices, latents, noise, timesteps)
                loss = self._loss(pred, target, timesteps, indices) / spec.gradient_accumulation
                (self.scaler.scale(loss) if self.scaler else loss).backward()
                total += float(loss.detach())
            if self.scaler:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            if self.scaler:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            step += 1
            losses.append(total)
            outcome.step = step
            if progress is not None:
                progress(step, spec.steps, total)
            if on_sample is not None and sample_every and step % sample_every == 0:
                with self.eval_mode():
                    on_sample(step)
        outcome.seconds = time.perf_counter() - started
        self.save_state(step, losses)
        self._set_train(False)
        return outcome

    def _set_train(self, on: bool) -> None:
        for name in self.trained:
            getattr(self.pipe, name).train(on)

    @contextlib.contextmanager
    def eval_mode(self):
        """The trained modules in eval mode for the block (sampling mid-training)."""
        was = getattr(self.pipe, "unet").training
        self._set_train(False)
        try:
            with torch.no_grad():
                yield
        finally:
            self._set_train(was)

    @torch.no_grad()
    def fixed_loss(self, seed: int = 1234, draws: int = 4) -> float:
        """Plain MSE of the prediction over every training picture (class pictures left
        out), ``draws`` times each, with noise
        and timesteps drawn from ``seed`` (the same set before and after training) and the
        posterior means as latents."""
        gen = torch.Generator().manual_seed(seed)
        total, n = 0.0, 0
        was = self.pipe.unet.training
        self._set_train(False)
        try:
            for _ in range(draws):
                for i in range(self.instance_count):
                    latents = self.scaled_latents(i, None)
                    noise = torch.randn(latents.shape, generator=gen)
                    t = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (1,),
                                      generator=gen)
                    pred, target = self._predict([i], latents.to(self.device),
                                                 noise.to(self.device), t)
                    total += float(((pred - target) ** 2).mean())
                    n += 1
        finally:
            self._set_train(was)
        return total / n

    # -- state (stop / resume) ------------------------------------------------------------------
    def lora_state(self) -> dict[str, dict[str, torch.Tensor]]:
        """The adapter's weights per module, in peft's key style (no adapter name)."""
        from peft import get_peft_model_state_dict

        return {name: {k: v.detach().float().cpu().contiguous() for k, v in
                       get_peft_model_state_dict(getattr(self.pipe, name),
                                                 adapter_name=ADAPTER).items()}
                for name in self.trained}

    def fingerprint(self) -> str:
        """What a saved state must match to be resumed: the settings that shape the run."""
        s = self.spec
        skip = {"name", "steps", "base_model", "extra", "image_count"}
        if not s.prior_preservation:  # a state saved before these settings existed resumes
            skip |= {"prior_preservation", "prior_images", "prior_loss_weight"}
        keys = {k: v for k, v in s.to_dict().items() if k not in skip}
        # the training pictures only: the class pictures follow from the settings and seed
        keys["images"] = [_digest(ex.pixels) for ex in self.examples[:self.instance_count]]
        return hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()
                              ).hexdigest()

    def save_state(self, step: int, losses: list[float]) -> None:
        """LoRA weights, optimizer state and step under the state folder; each file written
        beside its final name, then renamed over it (a crash keeps the last whole state)."""
        from safetensors.torch import save_file

        self.state_dir.mkdir(parents=True, exist_ok=True)
        flat = {f"{name}.{k}": v for name, sd in self.lora_state().items() for k, v in sd.items()}
        state = {"step": step, "losses": losses, "fingerprint": self.fingerprint(),
                 "optimizer": self.optimizer_name}
        tmp = {f: self.state_dir / f".{f}.tmp" for f in STATE_FILES}
        save_file(flat, tmp["adapter.safetensors"])
        opt = {"optimizer": self.optimizer.state_dict(),
               "scaler": self.scaler.state_dict() if self.scaler else None}
        torch.save(opt, tmp["optimizer.pt"])
        tmp["state.json"].write_text(json.dumps(state))
        for f in STATE_FILES:  # state.json last: it says the other two are whole
            os.replace(tmp[f], self.state_dir / f)

    def load_state(self) -> tuple[int, list[float]]:
        """(step, losses) of the saved state, its weights and optimizer loaded; (0, []) when
        the folder holds no state."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        path = self.state_dir / "state.json"
        if not path.is_file():
            return 0, []
        state = json.loads(path.read_text())
        if state.get("fingerprint") != self.fingerprint():
            raise RequestError("the saved training state was made with other images or "
                               "settings; start a new training instead of resuming")
        flat = load_file(self.state_dir / "adapter.safetensors")
        for name in self.trained:
            prefix = f"{name}."
            sd = {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}
            module = getattr(self.pipe, name)
            result = set_peft_model_state_dict(module, sd, adapter_name=ADAPTER)
            unexpected = getattr(result, "unexpected_keys", None)
            if unexpected:
                raise RequestError(f"the saved training state does not fit the {name}")
        opt = torch.load(self.state_dir / "optimizer.pt", map_location=self.device,
                         weights_only=True)
        self.optimizer.load_state_dict(opt["optimizer"])
        if self.scaler is not None and opt.get("scaler"):
            self.scaler.load_state_dict(opt["scaler"])
        return int(state["step"]), [float(x) for x in state.get("losses", [])]

    # -- the result ---------------------------------------------------------------------------------
    def kohya_tensors(self) -> dict[str, torch.Tensor]:
        config = self.pipe.unet.config
        lpb = getattr(config, "layers_per_block", None)
        return lora_file.to_kohya(self.lora_state(), self.spec.network_alpha,
                                  lpb if isinstance(lpb, int) else None,
                                  self.spec.network_conv_alpha if self.spec.conv_rank else None,
                                  tuple(getattr(config, "up_block_types", ()) or ()))

    def save(self, lora_dir: Path | str, outcome: TrainOutcome, *, started: float | None = None,
             base_name: str | None = None, base_sha256: str | None = None) -> Path:
        """Write ``<lora_dir>/<name>.safetensors`` (kohya keys, ss_*/modelspec.* metadata)."""
        tensors = self.kohya_tensors()
        now = time.time()
        meta = lora_file.metadata(
            self.spec, steps_done=outcome.step, started=started or now - outcome.seconds,
            finished=now, prediction_type=self.prediction_type, base_name=base_name,
            base_sha256=base_sha256, optimizer=outcome.optimizer,
            tensors_sha256=lora_file.tensors_hash(tensors),
            mixed_precision={torch.float16: "fp16", torch.bfloat16: "bf16"}.get(
                self.dtype, "no") if self.device.type == "cuda" else "no",
            gradient_checkpointing=self.checkpointing)
        return lora_file.write_lora(lora_dir, self.spec.name, tensors, meta)

    # -- sampling with the adapter live -----------------------------------------------------------
    @torch.no_grad()
    def sample_latents(self, prompt: str, seed: int, steps: int = 4, size: int | None = None,
                       guidance: float = 5.0, negative: str = "") -> torch.Tensor:
        """Denoised latents for ``prompt`` through the pipeline with the adapter as it is now
        (output_type="latent"; same seed, same starting noise)."""
        size = size or self.spec.resolution
        with self.eval_mode():
            return txt2img_latents(self.pipe, prompt, seed, steps, size, guidance, negative)

    @torch.no_grad()
    def sample_images(self, prompt: str, seeds: list[int], steps: int = 20,
                      size: int | None = None, guidance: float = 5.0, negative: str = ""
                      ) -> list:
        """Pictures (PIL, ``size`` square, the training resolution by default) for
        ``prompt``, one per seed, made with the adapter as it is now; the latents of
        ``sample_latents`` decoded by the pipeline's VAE in fp32. Callable during training
        (e.g. from ``on_sample``) and after it; the pipeline is left as it was."""
        size = size or self.spec.resolution
        with self.eval_mode():
            return txt2img_images(self.pipe, prompt, seeds, steps, size, guidance, negative)


def txt2img_latents(pipe, prompt: str, seed: int, steps: int, size: int, guidance: float = 5.0,
                    negative: str = "") -> torch.Tensor:
    """SDXL txt2img latents through a plain diffusers txt2img view over ``pipe``'s modules
    (a fresh scheduler from the pipeline's config, so nothing of ``pipe`` changes)."""
    from diffusers import StableDiffusionXLPipeline

    parts = {k: v for k, v in pipe.components.items()
             if k in StableDiffusionXLPipeline._get_signature_keys(StableDiffusionXLPipeline)[0]}
    parts["scheduler"] = type(pipe.scheduler).from_config(pipe.scheduler.config)
    for key in ("image_encoder", "feature_extractor"):
        parts.setdefault(key, None)
    view = StableDiffusionXLPipeline(**parts, add_watermarker=False)
    view.set_progress_bar_config(disable=True)
    gen = torch.Generator().manual_seed(seed)
    device = next(pipe.unet.parameters()).device
    shape = (1, pipe.unet.config.in_channels, size // view.vae_scale_factor,
             size // view.vae_scale_factor)
    latents = torch.randn(shape, generator=gen).to(device, next(pipe.unet.parameters()).dtype)
    return view(prompt=prompt, negative_prompt=negative, num_inference_steps=steps,
                guidance_scale=guidance, height=size, width=size, latents=latents,
                output_type="latent").images.float().cpu()


def _latent_stats(vae, like: torch.Tensor) -> tuple[torch.Tensor | float, torch.Tensor | float]:
    """(offset, scale) with UNet latents = (VAE latents - offset) * scale: the VAE's
    ``scaling_factor`` with its ``shift_factor`` or per-channel ``latents_mean`` /
    ``latents_std`` when it has them (as diffusers' pipelines decode)."""
    cfg = vae.config
    mean, std = getattr(cfg, "latents_mean", None), getattr(cfg, "latents_std", None)
    if mean is not None and std is not None:
        mean_t = torch.tensor(mean).view(1, -1, 1, 1).to(like)
        std_t = torch.tensor(std).view(1, -1, 1, 1).to(like)
        return mean_t, cfg.scaling_factor / std_t
    return float(getattr(cfg, "shift_factor", None) or 0.0), float(cfg.scaling_factor)


@torch.no_grad()
def decode_images(pipe, latents: torch.Tensor) -> list:
    """UNet latents (``output_type="latent"``) to PIL pictures with ``pipe``'s VAE run in
    fp32 (SDXL's fp16 VAE overflows), one at a time; the VAE goes back to its dtype."""
    from diffusers.image_processor import VaeImageProcessor

    vae = pipe.vae
    first = next(vae.parameters())
    dtype, device = first.dtype, first.device
    processor = getattr(pipe, "image_processor", None) or VaeImageProcessor()
    out = []
    if dtype != torch.float32:
        vae.to(dtype=torch.float32)
    try:
        for z in latents.float():
            z = z[None].to(device)
            offset, scale = _latent_stats(vae, z)
            pixels = vae.decode(z / scale + offset, return_dict=False)[0].float()
            out.extend(processor.postprocess(pixels.cpu(), output_type="pil"))
    finally:
        if dtype != torch.float32:
            vae.to(dtype=dtype)
    return out


def txt2img_images(pipe, prompt: str, seeds, steps: int, size: int, guidance: float = 5.0,
                   negative: str = "") -> list:
    """``txt2img_latents`` for each seed, decoded (``decode_images``)."""
    latents = [txt2img_latents(pipe, prompt, s, steps, size, guidance, negative) for s in seeds]
    return decode_images(pipe, torch.cat(latents)) if latents else []


def train_lora(pipe, spec: TrainingSpec, lora_dir: Path | str, state_dir: Path | str, *,
               progress: ProgressFn | None = None,
               should_stop: Callable[[], bool] | None = None, resume: bool = True,
               base_name: str | None = None, base_sha256: str | None = None,
               on_class_image: ClassProgressFn | None = None
               ) -> tuple[TrainOutcome, Path | None]:
    """Train ``spec`` (validated) on ``pipe`` and write the LoRA file when all steps are
    done: (outcome, its path); a stopped run keeps its state and writes no file
    (None). The pipeline is left as it was either way."""
    started = time.time()
    with LoraTraining(pipe, spec, state_dir, on_class_image=on_class_image) as run:
        outcome = run.train(progress=progress, should_stop=should_stop, resume=resume)
        if not outcome.done:
            return outcome, None
        return outcome, run.save(lora_dir, outcome, started=started, base_name=base_name,
                                 base_sha256=base_sha256)
