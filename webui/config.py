"""Settings of one app instance: command-line flags, each also settable by an env var."""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "WEBUI_"


@dataclass(frozen=True)
class Limits:
    """Bounds every request is validated against (the same for UI and API)."""

    min_size: int = 64
    max_size: int = 2048
    max_steps: int = 150
    max_cfg: float = 30.0
    max_batch_size: int = 8
    max_batch_count: int = 100
    max_image_pixels: int = 4096 * 4096  # uploaded init images/masks


@dataclass
class Settings:
    """Everything the app needs to know at start; built once in ``launch.py``."""

    port: int = 7860
    listen: bool = False
    models_dir: Path = Path("models")
    outputs_dir: Path = Path("outputs")
    data_dir: Path = Path("data")
    db: str | None = None
    ckpt: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    ckpt_cache: str | None = None  # count ("3") or size ("12GB"); None = half the free RAM
    offload: str = "auto"
    vram_budget: str | None = None  # weights kept on the GPU ("20GB"); None = memory - room
    compile: bool = False  # torch.compile the UNet and VAE decoder
    fuse_qkv: bool = False  # fused attention projections
    api: bool = False
    nowebui: bool = False
    limits: Limits = field(default_factory=Limits)
    # -- sharing: LAN logins, hosted demo, queue, API credentials -------------------------
    auth: str | None = None  # "user:pass,user2:pass2" (never shown anywhere)
    auth_file: Path | None = None  # one user:password (plain or hashed) a line
    admins: tuple[str, ...] = ()  # only from --admins: no flag, no admin
    share: bool = False  # ask Gradio for a public share link
    demo: bool = False  # hosted demo: capped jobs, private per-visitor history, rate limit
    demo_rate: float = 6.0  # jobs a minute per demo visitor
    demo_models: tuple[str, ...] = ()  # checkpoints a demo offers (empty: --ckpt, else first)
    demo_training: bool = False  # let demo visitors train LoRAs (off: a demo never trains)
    max_queue: int = 64  # jobs waiting for the device before "queue full, try again"
    max_queue_per_user: int | None = None  # one owner's waiting jobs (None: --max-queue)
    api_auth: str | None = None  # HTTP Basic logins for the API
    api_keys: str | None = None  # Bearer keys for the API, comma separated
    api_keys_file: Path | None = None  # one key (or name:key) a line
    insecure: bool = False  # allow the API beyond loopback without credentials
    # -- responsible generation -----------------------------------------------------------
    policy: Path | None = None  # prompt policy file (None: <data-dir>/policy.toml)
    no_watermark: bool = False  # admin: save images without SDXL's invisible watermark
    c2pa_cert: Path | None = None  # C2PA signing: certificate chain (PEM), signing cert first
    c2pa_key: Path | None = None  # ... and its private key (PEM)
    safety_checker: str | None = None  # output filter: "nudenet" or "module:factory"; off
    safety_action: str = "blur"  # what a flagged picture becomes: blur | withhold
    # -- extensions: folders of extension folders (the project's extensions/ by default)
    extensions_dirs: tuple[Path, ...] = (Path(__file__).resolve().parents[1] / "extensions",)
    disable_extensions: bool = False  # load none (A1111's --disable-all-extensions)
    extension_timeout: float = 30.0  # seconds a hook may take before its extension is off
    # -- where jobs run (webui.backends): this process, or Ray Serve workers ---------------
    backend: str = "local"  # local | ray
    ray_address: str | None = None  # join this Ray cluster (None: start one on this machine)
    ray_workers: int | None = None  # fixed worker count (None: one per GPU, else 1)
    ray_min_workers: int | None = None  # autoscaling bounds (both given: autoscale)
    ray_max_workers: int | None = None
    ray_models_per_worker: int = 2  # checkpoints each worker keeps hot (its affinity set)
    ray_worker_cpus: float = 1.0  # CPUs a worker reserves when it runs on the CPU
    ray_job_timeout: float = 600.0  # seconds a remote job may go without news before it fails

    @property
    def host(self) -> str:
        return "0.0.0.0" if self.listen else "127.0.0.1"

    @property
    def api_enabled(self) -> bool:
        """The HTTP API is served with ``--api``, and always with ``--nowebui``."""
        return self.api or self.nowebui

    @property
    def login_enabled(self) -> bool:
        """Browser logins (``--auth``/``--auth-file``) are on."""
        return bool(self.auth or self.auth_file)

    @property
    def api_credentials(self) -> bool:
        """The API asks for credentials: its own logins or keys, or the browser logins."""
        return bool(self.api_auth or self.api_keys or self.api_keys_file or self.login_enabled)

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{(self.data_dir / 'webui.db').resolve()}"

    @property
    def checkpoints_dir(self) -> Path:
        return self.models_dir / "Stable-diffusion"


def _env(name: str, default):
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_"), default)


def _env_flag(name: str) -> bool:
    return str(_env(name, "")).lower() in {"1", "true", "yes", "on"}


def build_parser() -> argparse.ArgumentParser:
    """The ``launch.py`` argument parser; every default can come from ``WEBUI_<FLAG>``."""
    p = argparse.ArgumentParser(
        prog="launch.py",
        description="SDXL web UI. Every flag can also be set by an environment variable "
        f"{ENV_PREFIX}<FLAG> (e.g. {ENV_PREFIX}PORT=7861, {ENV_PREFIX}MODELS_DIR=/data/models).",
    )
    p.add_argument("--port", type=int, default=int(_env("port", 7860)),
                   help="HTTP port to serve on (default 7860).")
    on_space = bool(os.environ.get("SPACE_ID"))  # a Hugging Face Space: public demo
    p.add_argument("--listen", action="store_true", default=_env_flag("listen") or on_space,
                   help="Bind 0.0.0.0 so other machines on the network can connect "
                        "(default: 127.0.0.1 only).")
    p.add_argument("--models-dir", type=Path, default=Path(_env("models_dir", "models")),
                   help="Models folder in AUTOMATIC1111's layout: checkpoints in "
                        "Stable-diffusion/, LoRAs in Lora/, VAEs in VAE/ (default ./models).")
    p.add_argument("--outputs-dir", type=Path, default=Path(_env("outputs_dir", "outputs")),
                   help="Where images are saved, as outputs/txt2img-images/YYYY-MM-DD/ "
                        "(default ./outputs).")
    p.add_argument("--data-dir", type=Path, default=Path(_env("data_dir", "data")),
                   help="Folder for the history database and other app data (default ./data).")
    p.add_argument("--db", default=_env("db", None),
                   help="SQLAlchemy database URL for the history, e.g. "
                        "postgresql+psycopg://user:pw@host/db (default: SQLite file "
                        "<data-dir>/webui.db).")
    p.add_argument("--ckpt", default=_env("ckpt", None),
                   help="Checkpoint to select at start (name as listed in the model dropdown). "
                        "It is loaded on first use, not at start.")
    p.add_argument("--device", choices=["auto", "cuda", "mps", "cpu"],
                   default=_env("device", "auto"),
                   help="Torch device; auto picks cuda, then mps, then cpu.")
    p.add_argument("--dtype", choices=["auto", "fp16", "bf16", "fp32"],
                   default=_env("dtype", "auto"),
                   help="Weights dtype; auto is fp16 on cuda/mps and fp32 on cpu.")
    p.add_argument("--ckpt-cache", default=_env("ckpt_cache", None),
                   help="How many checkpoints to keep in RAM for instant switching: a count "
                        "(e.g. 3) or a size (e.g. 12GB). Default: up to half the free RAM.")
    p.add_argument("--offload", choices=["auto", "none", "model", "sequential"],
                   default=_env("offload", "auto"),
                   help="GPU memory saving: model (whole modules to the GPU only while they "
                        "run) or sequential (layer by layer, slowest, least VRAM). auto picks "
                        "from the free VRAM; ignored on CPU.")
    p.add_argument("--vram-budget", default=_env("vram_budget", None),
                   help="GPU memory for model weights, e.g. 20GB: modules of earlier jobs stay "
                        "on the GPU for instant switching until this is full, then the least "
                        "recently used leave. Default: the GPU's memory less 20%% (at least "
                        "4 GB) for activations.")
    p.add_argument("--compile", action="store_true", default=_env_flag("compile"),
                   help="torch.compile the UNet and VAE decoder (CUDA): slower first job, "
                        "faster after; LoRA changes hotswap weights without recompiling.")
    p.add_argument("--fuse-qkv", action="store_true", default=_env_flag("fuse_qkv"),
                   help="Fuse the query/key/value projections of attention into one matmul "
                        "(jobs with LoRAs use the unfused ones).")
    p.add_argument("--max-image-pixels", type=int,
                   default=int(_env("max_image_pixels", 4096 * 4096)),
                   help="Largest uploaded image (width x height) accepted by img2img, inpaint "
                        "and outpaint (default 16777216 = 4096x4096).")
    p.add_argument("--max-size", type=int, default=int(_env("max_size", 2048)),
                   help="Largest width/height a job may ask for (default 2048).")
    p.add_argument("--api", action="store_true", default=_env_flag("api"),
                   help="Serve the HTTP API on the same port: AUTOMATIC1111's /sdapi/v1 and "
                        "Stability's REST v1 (/v1), with OpenAPI docs at /docs.")
    p.add_argument("--nowebui", action="store_true", default=_env_flag("nowebui"),
                   help="Serve the HTTP API only, without the browser UI (implies --api).")
    p.add_argument("--auth", default=_env("auth", None), metavar="USER:PASS[,USER:PASS]",
                   help="Require a login for the browser UI (and the API unless --api-auth or "
                        "--api-keys is given). Each user sees only their own images and jobs.")
    p.add_argument("--auth-file", type=Path, default=_env("auth_file", None),
                   help="File of user:password lines; passwords may be hashed "
                        "(python -m webui.auth hash USER prints a line).")
    p.add_argument("--admins", default=_env("admins", None), metavar="USER[,USER]",
                   help="Users who may change settings, import folders, and see and delete "
                        "anyone's images, those made before logins too (default: nobody).")
    p.add_argument("--share", action="store_true", default=_env_flag("share"),
                   help="Ask Gradio for a public *.gradio.live link to this app (needs "
                        "internet; combine with --auth).")
    p.add_argument("--demo", action="store_true", default=_env_flag("demo") or on_space,
                   help="Hosted-demo mode (e.g. a Hugging Face Space): steps <= 30, size <= "
                        "1024, one image per job, no settings changes, only the checkpoints "
                        "of --demo-models, each visitor's history private to their browser, "
                        "a per-visitor rate limit.")
    p.add_argument("--demo-rate", type=float, default=float(_env("demo_rate", 6)),
                   help="Jobs a minute per demo visitor (default 6).")
    p.add_argument("--demo-models", default=_env("demo_models", None), metavar="NAME[,NAME]",
                   help="Checkpoints (and refiners) a demo's visitors may choose among "
                        "(default: the --ckpt one, else the first found at start); no other "
                        "can be chosen, by the UI or the API.")
    p.add_argument("--demo-training", action="store_true", default=_env_flag("demo_training"),
                   help="Let a hosted demo's visitors train LoRAs (Train tab and API); off "
                        "by default, since one training holds the device for minutes.")
    p.add_argument("--max-queue", type=int, default=int(_env("max_queue", 64)),
                   help="Jobs that may wait for the device; more are refused with "
                        "'queue full, try again' (default 64).")
    p.add_argument("--max-queue-per-user", type=int,
                   default=int(_env("max_queue_per_user", 0)) or None, metavar="N",
                   help="Jobs one user (login, API key or demo visitor) may have waiting; "
                        "more are refused with 'you already have N jobs waiting' "
                        "(default: --max-queue).")
    p.add_argument("--api-auth", default=_env("api_auth", None), metavar="USER:PASS[,USER:PASS]",
                   help="HTTP Basic logins for the API.")
    p.add_argument("--api-keys", default=_env("api_keys", None), metavar="KEY[,KEY]",
                   help="API keys accepted as 'Authorization: Bearer <key>'.")
    p.add_argument("--api-keys-file", type=Path, default=_env("api_keys_file", None),
                   help="File of API keys, one 'key' or 'name:key' a line.")
    p.add_argument("--insecure", action="store_true", default=_env_flag("insecure"),
                   help="Serve the API beyond loopback (--listen) without any credentials.")
    p.add_argument("--policy", type=Path, default=_env("policy", None), metavar="FILE",
                   help="Prompt policy file (TOML: block/warn rules, artists' opt-outs); "
                        "default <data-dir>/policy.toml, made from the shipped policy on "
                        "first start.")
    p.add_argument("--no-watermark", action="store_true", default=_env_flag("no_watermark"),
                   help="Save images without SDXL's invisible watermark (on by default; "
                        "the XMP 'made with AI' label is always written).")
    p.add_argument("--c2pa-cert", type=Path, default=_env("c2pa_cert", None), metavar="PEM",
                   help="Sign every image with a C2PA manifest: the certificate chain (PEM, "
                        "signing certificate first). Needs --c2pa-key and the c2pa-python "
                        "extra (requirements-extras.txt).")
    p.add_argument("--c2pa-key", type=Path, default=_env("c2pa_key", None), metavar="PEM",
                   help="The private key (PEM) of --c2pa-cert's signing certificate.")
    p.add_argument("--safety-checker", nargs="?", const="nudenet",
                   default=_env("safety_checker", None) or None, metavar="DETECTOR",
                   help="Output filter: check every picture with NudeNet (the optional "
                        "extra, AGPL-3.0) or DETECTOR given as module:factory; flagged "
                        "pictures are blurred or withheld (--safety-action). Off by default.")
    p.add_argument("--safety-action", choices=["blur", "withhold"],
                   default=_env("safety_action", "blur"),
                   help="What the output filter does to a flagged picture (default blur).")
    p.add_argument("--extensions-dir", type=Path, action="append",
                   default=None, metavar="DIR",
                   help="A folder of extension folders (each <name>/extension.py); may be "
                        "given more than once (default: extensions/ beside launch.py).")
    p.add_argument("--disable-extensions", action="store_true",
                   default=_env_flag("disable_extensions"),
                   help="Start without any extension (built-in ones included).")
    add_backend_flags(p)
    return p


def add_backend_flags(p: argparse.ArgumentParser) -> None:
    """Where jobs run: in this process (default) or on Ray Serve workers (webui.backends)."""
    g = p.add_argument_group("where jobs run (README: Scale out on Ray Serve)")
    g.add_argument("--backend", choices=["local", "ray"], default=_env("backend", "local"),
                   help="local: jobs run in this process on --device (default). ray: jobs run "
                        "on Ray Serve workers, one per GPU, each keeping its own hot "
                        "checkpoints; this app stays the one front door and writes the "
                        "history (needs the ray[serve] extra, requirements-extras.txt).")
    g.add_argument("--ray-address", default=_env("ray_address", None), metavar="HOST:PORT",
                   help="Join this Ray cluster (started with `ray start --head`); default: "
                        "start a Ray instance on this machine.")
    g.add_argument("--ray-workers", type=int, default=_int_env("ray_workers"), metavar="N",
                   help="Generation workers to run (fixed). Default: one per GPU in the "
                        "cluster, or 1 without GPUs.")
    g.add_argument("--ray-min-workers", type=int, default=_int_env("ray_min_workers"),
                   metavar="N", help="Autoscale the workers between --ray-min-workers and "
                                     "--ray-max-workers with the number of running jobs.")
    g.add_argument("--ray-max-workers", type=int, default=_int_env("ray_max_workers"),
                   metavar="N", help="Upper bound of autoscaling (see --ray-min-workers).")
    g.add_argument("--ray-models-per-worker", type=int,
                   default=int(_env("ray_models_per_worker", 2)), metavar="N",
                   help="Checkpoints each worker keeps in RAM; jobs go to a worker that "
                        "already holds theirs (default 2).")
    g.add_argument("--ray-worker-cpus", type=float, default=float(_env("ray_worker_cpus", 1)),
                   metavar="N", help="CPUs each worker reserves when the cluster has no GPU "
                                     "(default 1).")
    g.add_argument("--ray-job-timeout", type=float,
                   default=float(_env("ray_job_timeout", 600)), metavar="SECONDS",
                   help="A remote job that sends no progress for this long fails with a clear "
                        "message (default 600: room for a first checkpoint load).")


def _int_env(name: str) -> int | None:
    value = _env(name, None)
    return int(value) if value not in (None, "") else None


def check_backend(s: "Settings") -> None:
    """Ray flags only with --backend ray, sensible worker bounds, and ray importable."""
    if s.backend not in ("local", "ray"):
        raise SettingsError(f"--backend must be local or ray, got {s.backend!r}")
    ray_flags = {"--ray-address": s.ray_address, "--ray-workers": s.ray_workers,
                 "--ray-min-workers": s.ray_min_workers, "--ray-max-workers": s.ray_max_workers}
    if s.backend != "ray":
        given = [k for k, v in ray_flags.items() if v is not None]
        if given:
            raise SettingsError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} "
                                  "--backend ray")
        return
    for flag, value in list(ray_flags.items())[1:] + [
            ("--ray-models-per-worker", s.ray_models_per_worker)]:
        if value is not None and value < 1:
            raise SettingsError(f"{flag} must be at least 1, got {value}")
    if (s.ray_min_workers is None) != (s.ray_max_workers is None):
        raise SettingsError("give both --ray-min-workers and --ray-max-workers to autoscale")
    if s.ray_min_workers is not None:
        if s.ray_workers is not None:
            raise SettingsError("--ray-workers (a fixed count) or --ray-min-workers/"
                                "--ray-max-workers (autoscaling), not both")
        if s.ray_min_workers > s.ray_max_workers:
            raise SettingsError(f"--ray-min-workers ({s.ray_min_workers}) is above "
                                f"--ray-max-workers ({s.ray_max_workers})")
    if s.ray_job_timeout <= 0:
        raise SettingsError("--ray-job-timeout must be a positive number of seconds")
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise SettingsError("--backend ray needs Ray Serve: pip install 'ray[serve]==2.60.0' "
                            "(requirements-extras.txt; README: Scale out on Ray Serve)")


class SettingsError(ValueError):
    """Flags that cannot work together; the message says what to change."""


DEMO_LIMITS = dict(max_steps=30, max_size=1024, max_batch_size=1, max_batch_count=1)


def parse_size(text: str | None, flag: str) -> int | None:
    """``"20GB"``/``"512MB"`` -> bytes; None or empty -> None (the default)."""
    if text is None or str(text).strip() == "":
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(G|GB|GIB|M|MB|MIB)", str(text).strip().upper())
    if not m:
        raise ValueError(f"{flag} must be a size such as 20GB or 512MB, got {text!r}")
    return int(float(m[1]) * (2**30 if m[2].startswith("G") else 2**20))


def check_settings(s: Settings) -> Settings:
    """Refuse unsafe or broken combinations (messages never contain a password) and fill
    ``admins``."""
    from webui.auth import AuthConfigError, load_users

    if s.max_queue < 1:
        raise SettingsError("--max-queue must be at least 1")
    if s.max_queue_per_user is not None and s.max_queue_per_user < 1:
        raise SettingsError("--max-queue-per-user must be at least 1")
    try:
        parse_size(s.vram_budget, "--vram-budget")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    try:
        users = load_users(s.auth, s.auth_file, ",".join(s.admins) or None)
        if s.api_auth:
            load_users(s.api_auth)
        if s.api_keys_file is not None and not Path(s.api_keys_file).is_file():
            raise AuthConfigError(f"cannot read --api-keys-file {s.api_keys_file}")
    except AuthConfigError as exc:
        raise SettingsError(str(exc)) from None
    s.admins = tuple(sorted(users.admins))
    check_policy(s)
    check_provenance(s)
    check_backend(s)
    if s.listen and s.api_enabled and not s.api_credentials and not s.insecure:
        raise SettingsError(
            "refusing to serve the API on all interfaces (--listen) without credentials: "
            "anyone on the network could run jobs and read settings. Add --api-auth "
            "user:pass or --api-keys KEY (or --auth), or --insecure to serve it anyway.")
    return s


def check_policy(s: Settings) -> None:
    """A policy file that cannot be used stops the start with its problem (a missing
    ``<data-dir>/policy.toml`` is made from the shipped one later)."""
    from webui.policy import PolicyError, PromptPolicy

    default = Path(s.data_dir) / "policy.toml"
    try:
        if s.policy is not None:
            PromptPolicy.for_app(s.data_dir, s.policy)
        elif default.exists():
            PromptPolicy(default)
    except PolicyError as exc:
        raise SettingsError(str(exc)) from None


def check_provenance(s: Settings) -> None:
    """C2PA signing needs a certificate and key that sign (checked now, with one small test
    signature); the output filter needs its detector importable."""
    if s.c2pa_cert or s.c2pa_key:
        from webui.provenance import C2paUnavailable, Provenance

        try:
            Provenance.from_settings(s)
        except C2paUnavailable as exc:
            raise SettingsError(str(exc)) from None
    if s.safety_action not in ("blur", "withhold"):
        raise SettingsError(f"--safety-action must be blur or withhold, got {s.safety_action!r}")
    if s.safety_checker:
        import importlib.util

        spec = s.safety_checker.strip()
        name = "nudenet" if spec.lower() == "nudenet" else spec.partition(":")[0]
        try:
            found = bool(name) and importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            hint = (" (an optional extra, AGPL-3.0: pip install onnxruntime && pip install "
                    "--no-deps nudenet==3.4.2; see README, Output filter)"
                    if name == "nudenet" else "")
            raise SettingsError(f"--safety-checker {spec}: module {name!r} is not "
                                f"installed{hint}")


def parse_settings(argv: list[str] | None = None) -> Settings:
    """Parse command-line flags (falling back to env vars) into ``Settings``."""
    parser = build_parser()
    a = parser.parse_args(argv)
    limits = dict(max_image_pixels=a.max_image_pixels, max_size=a.max_size)
    if a.demo:
        limits.update(DEMO_LIMITS, max_size=min(a.max_size, DEMO_LIMITS["max_size"]))
    s = Settings(
        port=a.port, listen=a.listen, models_dir=a.models_dir, outputs_dir=a.outputs_dir,
        data_dir=a.data_dir, db=a.db, ckpt=a.ckpt, device=a.device, dtype=a.dtype,
        ckpt_cache=a.ckpt_cache, offload=a.offload, vram_budget=a.vram_budget,
        compile=a.compile, fuse_qkv=a.fuse_qkv, api=a.api, nowebui=a.nowebui,
        limits=Limits(**limits), auth=a.auth or None,
        auth_file=Path(a.auth_file) if a.auth_file else None,
        admins=tuple(x.strip() for x in (a.admins or "").split(",") if x.strip()),
        share=a.share, demo=a.demo, demo_rate=a.demo_rate, max_queue=a.max_queue,
        max_queue_per_user=a.max_queue_per_user,
        demo_models=tuple(x.strip() for x in (a.demo_models or "").split(",") if x.strip()),
        demo_training=a.demo_training,
        api_auth=a.api_auth or None, api_keys=a.api_keys or None,
        api_keys_file=Path(a.api_keys_file) if a.api_keys_file else None,
        insecure=a.insecure, policy=Path(a.policy) if a.policy else None,
        no_watermark=a.no_watermark,
        c2pa_cert=Path(a.c2pa_cert) if a.c2pa_cert else None,
        c2pa_key=Path(a.c2pa_key) if a.c2pa_key else None,
        safety_checker=a.safety_checker or None, safety_action=a.safety_action,
        disable_extensions=a.disable_extensions,
        backend=a.backend, ray_address=a.ray_address or None, ray_workers=a.ray_workers,
        ray_min_workers=a.ray_min_workers, ray_max_workers=a.ray_max_workers,
        ray_models_per_worker=a.ray_models_per_worker, ray_worker_cpus=a.ray_worker_cpus,
        ray_job_timeout=a.ray_job_timeout,
    )
    if a.extensions_dir:
        s.extensions_dirs = tuple(Path(d) for d in a.extensions_dir)
    try:
        return check_settings(s)
    except SettingsError as exc:
        parser.error(str(exc))
