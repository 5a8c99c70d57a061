"""The app context: settings, model manager, history store and job runner, built once."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from webui.api.security import ApiCredentials
from webui.auth import Users, load_users
from webui.backends import make_backend
from webui.checkpoint_choice import CheckpointChoice
from webui.config import Settings, parse_size
from webui.extensions.host import ExtensionHost
from webui.history.db import open_database
from webui.history.model_hashes import DbHashCache
from webui.history.store import HistoryStore
from webui.jobs import JobRunner
from webui.models.manager import ModelManager
from webui.models.registry import ModelNotFound, ModelRegistry
from webui.policy import PromptPolicy
from webui.prompting.styles import StyleLibrary
from webui.provenance import Provenance
from webui.safety import OutputFilter, output_filter_from_settings
from webui.ratelimit import RateLimiter
from webui.training.records import TrainingRecords
from webui.training.service import TrainingService
from webui.upscaling.extras import ExtrasService
from webui.upscaling.registry import UpscalerRegistry
from webui.user_settings import SettingsStore

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """Everything a request handler needs; passed down, never imported as a global."""

    settings: Settings
    manager: ModelManager
    store: HistoryStore
    jobs: JobRunner  # the one run path (rate limit of demo visitors included)
    users: Users  # browser logins (empty: no login)
    user_settings: SettingsStore  # the Settings tab's <data-dir>/settings.json
    api_credentials: ApiCredentials  # API logins and keys (empty: open API)
    rate_limiter: RateLimiter | None  # per demo visitor
    styles: StyleLibrary  # <data-dir>/styles.csv
    checkpoint: CheckpointChoice  # the checkpoint of jobs that name none
    training: TrainingService  # LoRA training jobs (same device queue as generation)
    policy: PromptPolicy  # the prompt policy every door checks (--policy or data dir)
    extensions: ExtensionHost  # loaded extensions: tabs, routes, hooks, scripts
    # upscalers by name (resizers, models/ESRGAN files, registered ones) and Extras jobs
    upscalers: UpscalerRegistry | None = None
    extras: ExtrasService | None = None
    # watermark, XMP label, C2PA signing of every saved image; the optional output filter
    provenance: Provenance | None = None
    output_filter: OutputFilter | None = None


def spaces_gpu_wrapper():
    """``spaces.GPU`` when the ``spaces`` package (Hugging Face Spaces) is importable."""
    try:
        import spaces  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - not on a Space: nothing special
        return None
    gpu = getattr(spaces, "GPU", None)
    if gpu is None:
        return None
    log.info("spaces package found: generation runs inside spaces.GPU")
    return lambda fn: functools.wraps(fn)(gpu(fn))


def create_context(settings: Settings) -> AppContext:
    """Create folders, open (and migrate) the database, set up the manager. Loads no model."""
    settings.outputs_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("Stable-diffusion", "Lora", "VAE", "ESRGAN", "ControlNet", "ipadapter"):
        (settings.models_dir / sub).mkdir(parents=True, exist_ok=True)
    engine = open_database(settings.db_url)
    registry = ModelRegistry(settings.checkpoints_dir, settings.models_dir / "Lora",
                             settings.models_dir / "VAE",
                             DbHashCache(engine))
    manager = ModelManager(registry, settings.device, settings.dtype,
                           cache=settings.ckpt_cache,
                           offload=settings.offload,
                           device_budget=parse_size(settings.vram_budget, "--vram-budget"),
                           compile=settings.compile, fuse_qkv=settings.fuse_qkv)
    # the engine's hires fix finds the upscalers through the manager, as it finds models
    manager.upscalers = upscalers = UpscalerRegistry.for_manager(settings.models_dir, manager)
    if settings.demo and not manager.checkpoint_names():
        # a hosted demo without weights draws with the shipped demo model (no download)
        from webui.testing.demo_model import install

        log.info("demo: no checkpoint found; installed the demo model at %s",
                 install(settings.models_dir))
    if settings.demo:  # visitors choose among these only, at every door
        manager.offered = settings.demo_models or (
            (settings.ckpt,) if settings.ckpt else tuple(manager.checkpoint_names()[:1]))
        log.info("demo: visitors may choose %s", ", ".join(manager.offered) or "no checkpoint")
    if not settings.login_enabled:
        settings.admins = ()
    users = load_users(settings.auth, settings.auth_file, ",".join(settings.admins) or None)
    settings.admins = tuple(sorted(users.admins))
    user_settings = SettingsStore(settings.data_dir / "settings.json", settings.limits)
    provenance = Provenance.from_settings(settings)  # --no-watermark, --c2pa-cert/--c2pa-key
    log.info("saved images: %s", provenance.describe())
    output_filter = output_filter_from_settings(settings)  # --safety-checker (off: None)
    if output_filter is not None:
        log.info("%s", output_filter.describe())
    store = HistoryStore(engine, settings.outputs_dir, user_settings=user_settings,
                         provenance=provenance, output_filter=output_filter)
    store.reconcile()  # finish writes/deletes a crash left half-done (webui.history.store)
    # the user-editable styles file lives in the data folder (seeded with the SDXL presets)
    styles = StyleLibrary.in_data_dir(settings.data_dir)
    limiter = RateLimiter(settings.demo_rate) if settings.demo else None
    checkpoint = CheckpointChoice(manager.checkpoint_names, settings.ckpt)
    policy = prompt_policy(settings, manager, engine)
    extensions = ExtensionHost.load(
        [] if settings.disable_extensions else list(settings.extensions_dirs),
        settings.data_dir / "extensions.json", entry_points=not settings.disable_extensions,
        hook_timeout=settings.extension_timeout)
    # where jobs run: this process's device, or Ray Serve workers (--backend ray)
    backend = make_backend(settings, manager, spaces_gpu_wrapper())
    log.info("jobs run %s", backend.describe())
    jobs = JobRunner(manager, store, settings.limits, max_queue=settings.max_queue,
                     styles=styles, rate_limiter=limiter,
                     checkpoint=checkpoint, policy=policy, extensions=extensions,
                     max_per_owner=settings.max_queue_per_user, backend=backend)
    training = TrainingService(
        manager, jobs.queue, TrainingRecords(engine), settings.data_dir, settings.limits,
        checkpoint, enabled=settings.demo_training or not settings.demo,
        disabled_reason="LoRA training is off in this demo (the operator can turn it on "
                        "with --demo-training)",
        check_texts=policy.check)  # captions and trigger words go through the policy too
    ctx = AppContext(settings, manager, store, jobs, users=users, user_settings=user_settings,
                     api_credentials=ApiCredentials.from_settings(settings),
                     rate_limiter=limiter, styles=styles, checkpoint=checkpoint,
                     training=training, policy=policy, extensions=extensions,
                     provenance=provenance, output_filter=output_filter)
    upscalers.sources.append(lambda: extensions.registry("upscalers"))  # extensions' too
    # ControlNet preprocessors beyond none/canny: depth while a transformers depth model is
    # in the models folder (webui.controlnet.depth), then extensions' register_preprocessor
    from webui.controlnet.depth import DepthSource

    manager.preprocessors.sources += [DepthSource(settings.models_dir),
                                      lambda: extensions.registry("preprocessors")]
    manager.extra_samplers = extensions.registry("samplers")  # by name, beside A1111's
    ctx.upscalers = upscalers
    ctx.extras = ExtrasService(upscalers, jobs.queue, settings.outputs_dir,
                               settings.limits.max_image_pixels, limiter)
    ctx.extras.provenance = provenance  # upscaled pictures are marked and labelled too
    return ctx


def prompt_policy(settings: Settings, manager: ModelManager, engine) -> PromptPolicy:
    """The policy of ``--policy`` (or ``<data-dir>/policy.toml``), logging to the history
    database and reading tagged LoRAs' trigger words from the registry."""
    from webui.history.policy_log import PolicyLog

    policy = PromptPolicy.for_app(settings.data_dir, settings.policy)
    policy.event_log = PolicyLog(engine)

    def lora_words(name: str) -> list[str]:
        try:
            return manager.registry.lora_trigger_words(manager.registry.get(name, "Lora"))
        except ModelNotFound:
            return []

    policy.lora_words = lora_words
    log.info("prompt policy %s: %s", policy.path, policy.spec.summary())
    return policy


def startup_warnings(settings: Settings) -> list[str]:
    """What the person starting a shared server must know (printed loudly at start)."""
    out = []
    if settings.listen and not settings.login_enabled and not settings.demo:
        out.append("The app listens on all interfaces (--listen) WITHOUT A LOGIN: anyone who "
                   "can reach this machine can generate, see every image and change settings. "
                   "Add --auth user:pass (or --auth-file) to require a login.")
    if settings.share and not settings.login_enabled and not settings.demo:
        out.append("--share makes a PUBLIC link WITHOUT A LOGIN: add --auth user:pass.")
    if settings.api_enabled and settings.insecure and not settings.api_credentials:
        out.append("The API is served without credentials (--insecure).")
    if not settings.no_watermark:
        from webui.provenance.watermark import available

        why = available()
        if why:
            out.append(f"Images are saved WITHOUT the invisible watermark: {why}. Install "
                       "what it names (or start with --no-watermark to say it is meant).")
    return out
