"""What is on disk: checkpoints, LoRAs and VAEs in the A1111 folder layout, classified by their
tensors and configs (not their file names), with hashes computed once and cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: weight file whose hash identifies a diffusers folder (A1111 hashes the whole single file)
_UNET_WEIGHTS = ("unet/diffusion_pytorch_model.safetensors",
                 "unet/diffusion_pytorch_model.fp16.safetensors",
                 "unet/diffusion_pytorch_model.bin")
PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin"}
_COMPONENT_DIRS = {"unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2",
                   "scheduler"}

# kinds
SDXL_BASE = "sdxl-base"
SDXL_REFINER = "sdxl-refiner"
SDXL_INPAINT = "sdxl-inpaint"
LORA = "lora"
VAE = "vae"
PICKLE = "pickle (refused)"
UNKNOWN = "unknown"
CHECKPOINT_KINDS = {SDXL_BASE, SDXL_REFINER, SDXL_INPAINT}

#: the square size SDXL draws at; a checkpoint whose configs say nothing else draws at it too
SDXL_NATIVE_SIZE = 1024


class ModelNotFound(LookupError):
    """No model with that name; the message says where such models go."""


@dataclass(frozen=True)
class ModelInfo:
    """One model on disk."""

    name: str          # shown in dropdowns, written as ``Model:``/``VAE:``/LoRA name
    path: Path
    format: str        # "diffusers" | "single-file" | "pickle"
    kind: str          # SDXL_BASE, SDXL_REFINER, SDXL_INPAINT, LORA, VAE, PICKLE, UNKNOWN
    folder: str        # "Stable-diffusion" | "Lora" | "VAE"
    detail: str = ""   # e.g. the LoRA key style
    problem: str = ""  # why it cannot load, found at scan time (e.g. a truncated download)

    @property
    def size_bytes(self) -> int:
        if self.path.is_dir():
            return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return self.path.stat().st_size

    def hash_file(self) -> Path:
        """The file whose sha256 gives the A1111 hash (a diffusers folder: its UNet weights)."""
        if self.format != "diffusers":
            return self.path
        for rel in _UNET_WEIGHTS + ("diffusion_pytorch_model.safetensors",):
            if (self.path / rel).is_file():
                return self.path / rel
        return self.path / "model_index.json"


def sha256_file(path: Path, chunk: int = 1 << 20, start: int = 0) -> str:
    """Full sha256 of a file (from byte ``start``), read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(start)
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file (tensor names, shapes, offsets, __metadata__)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if n <= 0 or n > 100 * 2**20:
            raise ValueError(f"{path.name}: not a safetensors file")
        return json.loads(f.read(n))


def truncation(path: Path, header: dict) -> str:
    """``""`` when the file holds every byte its header names, else what is missing (a
    download that stopped half way), read from the header and the file size alone."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
    end = max((v["data_offsets"][1] for k, v in header.items()
               if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v),
              default=0)
    needed = 8 + header_len + end
    if size >= needed:
        return ""
    return (f"truncated: {size:,} of {needed:,} bytes ({100 * size / needed:.0f}%); "
            "download it again")


def classify_checkpoint_header(header: dict) -> str:
    """SDXL base / refiner / inpainting from a single file's tensor names and shapes."""
    keys = header.keys()
    conv_in = header.get("model.diffusion_model.input_blocks.0.0.weight")
    if conv_in is None:
        return UNKNOWN
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return SDXL_INPAINT if conv_in["shape"][1] == 9 else SDXL_BASE
    if any(k.startswith("conditioner.embedders.0.model.") for k in keys):
        return SDXL_REFINER
    return UNKNOWN


def classify_diffusers_folder(folder: Path) -> str:
    """SDXL base / refiner / inpainting from a diffusers folder's configs."""
    try:
        index = json.loads((folder / "model_index.json").read_text())
        unet = json.loads((folder / "unet" / "config.json").read_text())
    except (OSError, ValueError):
        return UNKNOWN
    if "XL" not in index.get("_class_name", "") and unet.get("addition_embed_type") != "text_time":
        return UNKNOWN
    if unet.get("in_channels") == 9:
        return SDXL_INPAINT
    te = index.get("text_encoder")
    if not te or te == [None, None]:
        return SDXL_REFINER
    return SDXL_BASE


def native_size_from_configs(folder: Path) -> int | None:
    """The square size in pixels a diffusers folder's model was trained at, from its configs
    alone: the UNet's ``sample_size`` (latent pixels) times the VAE's downscale,
    2 ** (levels - 1) from ``vae/config.json``'s ``block_out_channels`` (8 when there is
    none), as a multiple of 8. None when the UNet config is missing or names no size."""
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text())
    except (OSError, ValueError):
        return None
    sample = unet.get("sample_size") if isinstance(unet, dict) else None
    if isinstance(sample, (list, tuple)) and len(sample) == 2:  # (height, width)
        sample = (sample[0] * sample[1]) ** 0.5
    if isinstance(sample, bool) or not isinstance(sample, (int, float)) or sample <= 0:
        return None
    scale = 8
    try:
        levels = json.loads((folder / "vae" / "config.json").read_text()).get(
            "block_out_channels")
        if isinstance(levels, (list, tuple)) and levels:
            scale = 2 ** (len(levels) - 1)
    except (OSError, ValueError, AttributeError):
        pass
    return max(8, round(sample * scale / 8) * 8)


def lora_style(keys) -> str | None:
    """The key style of a LoRA file, or None when the tensors are not a LoRA."""
    keys = list(keys)
    if any(k.startswith(("lora_unet_", "lora_te")) for k in keys):
        return "kohya"
    if any(".lora_A." in k or ".lora_B." in k for k in keys):
        return "peft" if any(k.startswith("base_model.model.") for k in keys) else "diffusers"
    if any(".lora.down." in k or "lora_linear_layer" in k for k in keys):
        return "diffusers (old)"
    return None


def is_vae_header(header: dict) -> bool:
    keys = [k.removeprefix("first_stage_model.").removeprefix("vae.") for k in header]
    return any(k.startswith(("decoder.conv_in.", "encoder.conv_in.")) for k in keys) and not any(
        k.startswith("model.diffusion_model.") for k in header)


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def is_hub_id(name: str) -> bool:
    """``stabilityai/stable-diffusion-xl-base-1.0``-style Hugging Face repo ids."""
    return bool(_HUB_ID.fullmatch(name or "")) and not Path(name).exists()


def hub_model(repo_id: str) -> ModelInfo:
    """A checkpoint named by a hub id; loaded through the hub cache when the machine is
    online. Its kind is read from the repo's configs once downloaded; the name decides only
    until then."""
    kind = SDXL_REFINER if "refiner" in repo_id.lower() else (
        SDXL_INPAINT if "inpaint" in repo_id.lower() else SDXL_BASE)
    return ModelInfo(repo_id, Path(repo_id), "hub", kind, "Stable-diffusion", "hub id")


class HashCache:
    """sha256 per (path, size, mtime), kept in memory and in a JSON file so a file is read
    once, not at every start."""

    def __init__(self, store: Path | None = None):
        self.store = store
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}
        if store and store.is_file():
            try:
                self._data = json.loads(store.read_text())
            except ValueError:
                log.warning("hash cache %s unreadable; starting afresh", store)

    @staticmethod
    def _key(path: Path, kind: str) -> str:
        st = path.stat()
        return f"{kind}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"

    def peek(self, path: Path, kind: str) -> str | None:
        """The cached value, or None when it was never computed (nothing is read)."""
        try:
            key = self._key(path, kind)
        except OSError:
            return None
        with self._lock:
            return self._data.get(key)

    def get(self, path: Path, kind: str, compute) -> str:
        key = self._key(path, kind)
        with self._lock:
            if key in self._data:
                return self._data[key]
        value = compute(path)
        with self._lock:
            self._data[key] = value
            if self.store:
                tmp = self.store.with_suffix(".tmp")
                tmp.write_text(json.dumps(self._data, indent=0))
                tmp.replace(self.store)
        return value


class ModelRegistry:
    """Lists the models of the three A1111 folders; classifies and hashes them."""

    def __init__(self, checkpoints_dir: Path, lora_dir: Path | None = None,
                 vae_dir: Path | None = None, hash_cache: HashCache | None = None):
        self.root = Path(checkpoints_dir)
        self.lora_dir = Path(lora_dir) if lora_dir else self.root.parent / "Lora"
        self.vae_dir = Path(vae_dir) if vae_dir else self.root.parent / "VAE"
        # ControlNets and IP-Adapters (webui.models.control), beside the checkpoints
        self.control_dir = self.root.parent / "ControlNet"
        self.ipadapter_dir = self.root.parent / "ipadapter"
        self.clip_vision_dir = self.root.parent / "clip_vision"
        self.hashes = hash_cache or HashCache()
        self._classified: dict[tuple, ModelInfo] = {}
        self._native: dict[tuple, int] = {}

    # -- scanning ---------------------------------------------------------------------------
    def scan(self) -> list[ModelInfo]:
        """Every checkpoint in ``Stable-diffusion/`` (any kind, pickles included), by name."""
        return self._scan_folder(self.root, "Stable-diffusion")

    def scan_all(self) -> list[ModelInfo]:
        """Checkpoints, LoRAs and VAEs."""
        return (self.scan() + self._scan_folder(self.lora_dir, "Lora")
                + self._scan_folder(self.vae_dir, "VAE") + self.control_scan())

    def control_scan(self) -> list[ModelInfo]:
        """Everything in ``ControlNet/`` and ``ipadapter/`` (usable or not: ``problem``)."""
        return (self._scan_folder(self.control_dir, "ControlNet")
                + self._scan_folder(self.ipadapter_dir, "ipadapter"))

    def loras(self) -> list[ModelInfo]:
        return [m for m in self._scan_folder(self.lora_dir, "Lora") if m.kind == LORA]

    def vaes(self) -> list[ModelInfo]:
        return [m for m in self._scan_folder(self.vae_dir, "VAE") if m.kind == VAE]

    def _scan_folder(self, root: Path, folder: str) -> list[ModelInfo]:
        found: list[ModelInfo] = []
        if not root.is_dir():
            return found
        diffusers_dirs = []
        for index in root.rglob("model_index.json"):
            if index.parent.suffix != ".config":
                diffusers_dirs.append(index.parent)
        if folder in ("VAE", "ControlNet"):  # diffusers model folders: a config.json
            wanted = "AutoencoderKL" if folder == "VAE" else "ControlNet"
            for cfg in root.rglob("config.json"):
                if cfg.parent.suffix == ".config":
                    continue
                try:
                    if wanted in json.loads(cfg.read_text()).get("_class_name", ""):
                        diffusers_dirs.append(cfg.parent)
                except (OSError, ValueError):
                    continue
        # a folder with its own config.json (the IP-Adapter image encoder, a ControlNet
        # folder of another kind) is one model, never a pile of single files
        config_dirs = {c.parent for c in root.rglob("config.json")} \
            if folder in ("ControlNet", "ipadapter") else set()
        for d in sorted(set(diffusers_dirs)):
            found.append(self._info(d, root, folder, "diffusers"))
        for f in sorted(root.rglob("*")):
            if not f.is_file() or f.suffix.lower() not in PICKLE_SUFFIXES | {".safetensors"}:
                continue
            if any(p in diffusers_dirs or p.suffix == ".config" or p.name in _COMPONENT_DIRS
                   or p in config_dirs for p in f.parents):
                continue  # part of a diffusers folder or a config folder
            fmt = "single-file" if f.suffix.lower() == ".safetensors" else "pickle"
            found.append(self._info(f, root, folder, fmt))
        return sorted(found, key=lambda m: m.name.lower())

    def _info(self, path: Path, root: Path, folder: str, fmt: str) -> ModelInfo:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, folder)
        if key not in self._classified:
            rel = path.relative_to(root)
            name = (rel if fmt == "diffusers" else rel.with_suffix("")).as_posix()
            kind, detail, problem = self._classify(path, folder, fmt)
            self._classified[key] = ModelInfo(name, path, fmt, kind, folder, detail, problem)
        return self._classified[key]

    @staticmethod
    def _classify(path: Path, folder: str, fmt: str) -> tuple[str, str, str]:
        """(kind, detail, problem) of a model from its configs or its file header."""
        if folder in ("ControlNet", "ipadapter"):
            from webui.models import control_kinds

            if fmt == "diffusers":
                kind, problem = control_kinds.classify_control_folder(path)
            elif path.suffix.lower() == ".bin" and folder == "ipadapter":
                kind, problem = control_kinds.classify_control_bin(path)
            elif fmt == "pickle":
                return PICKLE, "", "pickle files can run code when loaded; convert to .safetensors"
            else:
                try:
                    header = read_safetensors_header(path)
                except (OSError, ValueError) as exc:
                    return control_kinds.NOT_SDXL, "", f"unreadable: {exc}"
                kind, problem = control_kinds.classify_control_header(header)
                problem = problem or truncation(path, header)
            return kind, "", problem
        if fmt == "pickle":
            return PICKLE, "", "pickle files can run code when loaded; convert to .safetensors"
        if fmt == "diffusers":
            if folder == "VAE":
                return VAE, "", ""
            return classify_diffusers_folder(path), "", ""
        try:
            header = read_safetensors_header(path)
        except (OSError, ValueError) as exc:
            return UNKNOWN, "", f"unreadable: {exc}"
        # the kind still comes from the header, so a truncated base stays where it belongs,
        # flagged here and refused with the same reason when chosen
        problem = truncation(path, header)
        style = lora_style(header)
        if style:
            return LORA, style, problem
        if is_vae_header(header):
            return VAE, "", problem
        return classify_checkpoint_header(header), "", problem

    # -- lookup -----------------------------------------------------------------------------
    def names(self, kinds: set[str] | None = None) -> list[str]:
        kinds = kinds or {SDXL_BASE, SDXL_INPAINT}
        return [m.name for m in self.scan() if m.kind in kinds]

    def get(self, name: str, folder: str = "Stable-diffusion") -> ModelInfo:
        """The model called ``name`` (its name, title, file name or path)."""
        pool = {"Stable-diffusion": self.scan, "Lora": lambda: self._scan_folder(
            self.lora_dir, "Lora"), "VAE": lambda: self._scan_folder(self.vae_dir, "VAE"),
            "ControlNet": self.control_scan}[folder]()
        for info in pool:
            if name in (info.name, info.path.name, str(info.path), info.path.stem):
                return info
        if folder == "Stable-diffusion" and is_hub_id(name):
            return hub_model(name)
        where = {"Stable-diffusion": self.root, "Lora": self.lora_dir, "VAE": self.vae_dir,
                 "ControlNet": self.control_dir}[folder]
        what = {"Stable-diffusion": "checkpoint", "Lora": "LoRA", "VAE": "VAE",
                "ControlNet": "ControlNet or IP-Adapter"}[folder]
        raise ModelNotFound(
            f"{what} {name!r} not found in {where.resolve()}; put it there "
            "(a diffusers folder or a .safetensors file) and press Refresh")

    # -- sizes ------------------------------------------------------------------------------
    def native_size(self, info: ModelInfo) -> int:
        """The square size (pixels) ``info`` draws best at, read from its configs, never its
        weights: a diffusers folder's (or a single file's ``<stem>.config/`` folder, which
        the loader builds it from) UNet ``sample_size`` times its VAE's downscale; SDXL's
        1024 for anything else (a single file on the shipped SDXL configs, a hub id, a model
        without readable configs). Cached per path (and config file times)."""
        if info.format == "diffusers":
            folder = info.path
        elif info.format == "single-file" and (
                info.path.with_suffix(".config") / "model_index.json").is_file():
            folder = info.path.with_suffix(".config")
        else:
            return SDXL_NATIVE_SIZE

        def mtime(rel: str) -> int | None:
            try:
                return (folder / rel).stat().st_mtime_ns
            except OSError:
                return None

        key = (str(folder), mtime("unet/config.json"), mtime("vae/config.json"))
        if key not in self._native:
            self._native[key] = native_size_from_configs(folder) or SDXL_NATIVE_SIZE
        return self._native[key]

    # -- hashes -----------------------------------------------------------------------------
    def sha256(self, info: ModelInfo) -> str:
        """Full sha256 of the model's hash file, computed once per (path, size, mtime)."""
        if info.format == "hub":
            cached = _hub_cached_unet(info.name)
            return self.hashes.get(cached, "sha256", sha256_file) if cached else "0" * 64
        return self.hashes.get(info.hash_file(), "sha256", sha256_file)

    def known_sha256(self, info: ModelInfo) -> str | None:
        """The full sha256 if it was computed before (by a load, the Models tab, or another
        instance sharing the database), else None: listing never hashes a 7 GB file."""
        if info.format == "hub":
            cached = _hub_cached_unet(info.name)
            return self.hashes.peek(cached, "sha256") if cached else None
        if info.format == "pickle" or info.problem:
            return None
        return self.hashes.peek(info.hash_file(), "sha256")

    def short_hash(self, info: ModelInfo) -> str:
        """A1111's 10-hex model hash: the first 10 hex digits of the file's sha256."""
        return self.sha256(info)[:10]

    def lora_hash(self, info: ModelInfo) -> str:
        """A1111's LoRA hash (``Lora hashes``): sha256 of a safetensors file after its header
        ("addnet" hash), first 12 hex digits."""
        def compute(path: Path) -> str:
            with open(path, "rb") as f:
                n = int.from_bytes(f.read(8), "little")
            return sha256_file(path, start=8 + n)

        return self.hashes.get(info.path, "addnet", compute)[:12]

    def lora_trigger_words(self, info: ModelInfo, limit: int = 10) -> list[str]:
        """Most frequent training tags from kohya metadata (``ss_tag_frequency``), if any."""
        try:
            meta = read_safetensors_header(info.path).get("__metadata__", {})
            freq = json.loads(meta.get("ss_tag_frequency", "{}"))
        except (OSError, ValueError):
            return []
        counts: dict[str, int] = {}
        for tags in freq.values():
            for tag, n in tags.items():
                counts[tag.strip()] = counts.get(tag.strip(), 0) + int(n)
        return [t for t, _ in sorted(counts.items(), key=lambda kv: -kv[1])][:limit]


def _hub_cached_unet(repo_id: str) -> Path | None:
    """The UNet weights of a hub checkpoint in the local hub cache (no download)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        for name in ("diffusion_pytorch_model.safetensors",
                     "diffusion_pytorch_model.fp16.safetensors"):
            found = try_to_load_from_cache(repo_id, name, subfolder="unet")
            if isinstance(found, str):
                return Path(found)
    except Exception:  # noqa: BLE001 - no cache, no hash
        return None
    return None


# kept for the first version's callers
CheckpointRegistry = ModelRegistry
