"""ComfyUI: the API ``prompt`` graph (``{node_id: {"class_type", "inputs"}}``), walked backwards from
its samplers to the prompts, model, LoRAs, size and a refiner or hires second pass; a UI
``workflow`` alone gives only the source."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from webui.metadata.info import COMFYUI, GenerationInfo
from webui.metadata.values import load_json, parse_size, scalar_text, to_float, to_int, to_str


_SAMPLER_CLASSES = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}


# Inputs through which a sampler's settings may live on another node (SamplerCustom*, guiders).
_SETTING_LINKS = ("guider", "sampler", "sigmas", "noise")


# Inputs that never lead to a prompt's text.
_NOT_CONDITIONING = {
    "clip", "model", "vae", "image", "images", "pixels", "mask", "control_net", "latent",
    "samples", "latent_image", "style_model", "clip_vision", "clip_vision_output", "upscale_model",
}


_TEXT_KEYS = ("text", "text_g", "text_l", "prompt", "string", "value", "text_positive")


_MODEL_KEYS = ("ckpt_name", "unet_name", "model_name", "ckpt")


class ComfyGraph:
    """Walks a ComfyUI API graph (``{node_id: {"class_type", "inputs"}}``) backwards from samplers."""

    def __init__(self, graph: dict):
        self.nodes: dict[str, dict] = {
            str(node_id): node for node_id, node in graph.items()
            if isinstance(node, dict) and isinstance(node.get("inputs", {}), dict)
        }

    def inputs(self, node_id: str) -> dict:
        return self.nodes.get(node_id, {}).get("inputs") or {}

    def class_type(self, node_id: str) -> str:
        return str(self.nodes.get(node_id, {}).get("class_type", ""))

    def link(self, value: Any) -> str | None:
        """The upstream node id if ``value`` is a link ``[node_id, output_index]``."""
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
            node_id = str(value[0])
            if node_id in self.nodes:
                return node_id
        return None

    def links(self, node_id: str, names: Iterable[str] | None = None) -> list[str]:
        """Upstream node ids of ``node_id``, through ``names`` only when given."""
        inputs = self.inputs(node_id)
        keys = inputs.keys() if names is None else [name for name in names if name in inputs]
        return [up for up in (self.link(inputs[key]) for key in keys) if up is not None]

    def resolve(self, value: Any, keys: Iterable[str], depth: int = 0) -> Any:
        """A literal input value, following links to primitive/literal nodes (a few hops)."""
        upstream = self.link(value)
        if upstream is None:
            return value
        if depth > 4:
            return None
        inputs = self.inputs(upstream)
        for key in list(keys) + ["value", "seed", "int", "float", "string", "text", "number"]:
            if key in inputs:
                return self.resolve(inputs[key], keys, depth + 1)
        links = self.links(upstream)
        return self.resolve([links[0], 0], keys, depth + 1) if len(links) == 1 else None

    # -- samplers ----------------------------------------------------------------------------------

    def is_sampler(self, node_id: str) -> bool:
        inputs = self.inputs(node_id)
        if self.class_type(node_id) in _SAMPLER_CLASSES:
            return True
        if "latent_image" in inputs and ("positive" in inputs or "guider" in inputs):
            return True
        return {"sampler_name", "steps", "cfg"} <= inputs.keys()

    def samplers(self) -> list[str]:
        return [node_id for node_id in self.nodes if self.is_sampler(node_id)]

    def upstream(self, start: Iterable[str], skip: set[str], stop: Callable[[str], bool]):
        """Breadth-first node ids upstream of ``start``, not entering inputs named in ``skip``
        and not going past nodes for which ``stop`` is true."""
        queue, seen = list(start), set()
        while queue:
            node_id = queue.pop(0)
            if node_id in seen:
                continue
            seen.add(node_id)
            yield node_id
            if stop(node_id):
                continue
            names = [name for name in self.inputs(node_id) if name not in skip]
            queue.extend(self.links(node_id, names))

    def latent_sources(self, sampler_id: str) -> Iterable[str]:
        skip = {"model", "positive", "negative", "vae", "clip", "guider", "sampler", "sigmas",
                "noise", "conditioning", "control_net"}
        start = self.links(sampler_id, ["latent_image", "latent"])
        return self.upstream(start, skip, self.is_sampler)

    def primary_sampler(self, samplers: list[str]) -> str:
        """The first sampler whose latent does not come from another sampler (the first pass)."""
        for sampler_id in samplers:
            if not any(self.is_sampler(up) for up in self.latent_sources(sampler_id)):
                return sampler_id
        return samplers[0]

    def setting(self, sampler_id: str, keys: tuple[str, ...]) -> Any:
        """A sampler setting, on the sampler or on its guider/sampler/sigmas/noise nodes."""
        first = self.links(sampler_id, _SETTING_LINKS)
        second = [up for node_id in first for up in self.links(node_id, _SETTING_LINKS)]
        for node_id in [sampler_id, *first, *second]:
            inputs = self.inputs(node_id)
            for key in keys:
                if key in inputs:
                    value = self.resolve(inputs[key], keys)
                    if value is not None and self.link(value) is None:
                        return value
        return None

    # -- prompts, model, size ----------------------------------------------------------------------

    def _conditioning_start(self, sampler_id: str, role: str) -> list[str]:
        direct = self.links(sampler_id, [role])
        if direct:
            return direct
        for guider in self.links(sampler_id, ["guider"]):
            found = self.links(guider, [role]) or (
                self.links(guider, ["conditioning"]) if role == "positive" else []
            )
            if found:
                return found
        return []

    def _node_text(self, node_id: str) -> str | None:
        inputs = self.inputs(node_id)
        for key in _TEXT_KEYS:
            if key in inputs:
                value = self.resolve(inputs[key], (key,))
                if isinstance(value, str):
                    return value
        return None

    def prompt_text(self, sampler_id: str, role: str) -> tuple[str | None, str | None]:
        """(text, id of the text node) of the positive/negative conditioning."""
        texts: list[str] = []
        first_node = None
        for node_id in self._conditioning_nodes(self._conditioning_start(sampler_id, role), role):
            text = self._node_text(node_id)
            if text is not None and text not in texts:
                texts.append(text)
                first_node = first_node or node_id
        return ("\n".join(texts) if texts else None), first_node

    def _conditioning_nodes(self, start: list[str], role: str) -> Iterable[str]:
        """Depth-first nodes reachable through conditioning inputs, stopping at text nodes."""
        stack, seen = list(reversed(start)), set()
        while stack:
            node_id = stack.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            yield node_id
            if self._node_text(node_id) is not None:
                continue
            inputs = self.inputs(node_id)
            names = [role] if role in inputs else [n for n in inputs if n not in _NOT_CONDITIONING]
            stack.extend(reversed(self.links(node_id, names)))

    def model(self, sampler_id: str) -> tuple[str | None, list[str]]:
        """(checkpoint name, LoRAs "name:strength") along the sampler's model input."""
        start = self.links(sampler_id, ["model"])
        if not start:
            start = [up for guider in self.links(sampler_id, ["guider"])
                     for up in self.links(guider, ["model"])]
        loras: list[str] = []
        for node_id in self.upstream(start, set(), lambda n: False):
            inputs = self.inputs(node_id)
            lora = inputs.get("lora_name")
            if isinstance(lora, str):
                loras.append(f"{lora}:{inputs.get('strength_model', 1.0)}")
            for key in _MODEL_KEYS:
                value = self.resolve(inputs.get(key), (key,))
                if isinstance(value, str) and value:
                    return value, loras
        return None, loras

    def size(self, sampler_id: str) -> tuple[int, int] | None:
        """Width and height of the first latent (or image resize) node above the sampler."""
        for node_id in self.latent_sources(sampler_id):
            if node_id == sampler_id or self.is_sampler(node_id):
                continue
            inputs = self.inputs(node_id)
            width = to_int(self.resolve(inputs.get("width"), ("width",)))
            height = to_int(self.resolve(inputs.get("height"), ("height",)))
            if width and height:
                return width, height
            for key in ("resolution", "dimensions"):
                size = parse_size(inputs.get(key))
                if size:
                    return size
        return None

    def clip_skip(self, text_node: str | None) -> int | None:
        if text_node is None:
            return None
        for node_id in self.upstream(self.links(text_node, ["clip"]), set(), lambda n: False):
            layer = to_int(self.inputs(node_id).get("stop_at_clip_layer"))
            if layer is not None:
                return abs(layer)
        return None


def _comfy_second_pass(graph: ComfyGraph, primary: str, others: list[str], model: str | None,
                       params: dict[str, str]) -> None:
    """Describe a refiner (other checkpoint) or a hires pass (same checkpoint) in ``params``."""
    for sampler_id in others:
        other_model, _ = graph.model(sampler_id)
        if other_model and other_model != model:
            params["Refiner"] = other_model
            steps = to_float(graph.setting(primary, ("steps",)))
            end = to_float(graph.setting(primary, ("end_at_step",)))
            if steps and end is not None and 0 < end < steps:
                params["Refiner switch at"] = scalar_text(round(end / steps, 4))
            return
        denoise = graph.setting(sampler_id, ("denoise",))
        params["Hires steps"] = scalar_text(graph.setting(sampler_id, ("steps",)))
        if denoise is not None:
            params["Denoising strength"] = scalar_text(denoise)
        return


def _parse_comfy_graph(graph: dict) -> GenerationInfo | None:
    comfy = ComfyGraph(graph)
    samplers = comfy.samplers()
    if not samplers:
        return None
    primary = comfy.primary_sampler(samplers)
    info = GenerationInfo(source=COMFYUI)
    positive, positive_node = comfy.prompt_text(primary, "positive")
    negative, _ = comfy.prompt_text(primary, "negative")
    info.prompt, info.negative_prompt = positive or "", negative or ""
    info.steps = to_int(comfy.setting(primary, ("steps",)))
    info.sampler = to_str(comfy.setting(primary, ("sampler_name",)))
    info.scheduler = to_str(comfy.setting(primary, ("scheduler",)))
    info.cfg_scale = to_float(comfy.setting(primary, ("cfg",)))
    info.seed = to_int(comfy.setting(primary, ("seed", "noise_seed")))
    info.width, info.height = comfy.size(primary) or (None, None)
    info.model, loras = comfy.model(primary)
    params: dict[str, Any] = {
        "Steps": info.steps, "Sampler": info.sampler, "Schedule type": info.scheduler,
        "CFG scale": comfy.setting(primary, ("cfg",)), "Seed": info.seed, "Size": info.size,
        "Model": info.model, "Clip skip": comfy.clip_skip(positive_node),
    }
    denoise = to_float(comfy.setting(primary, ("denoise",)))
    if denoise is not None and denoise < 1.0:
        params["Denoising strength"] = comfy.setting(primary, ("denoise",))
    if loras:
        params["Loras"] = ", ".join(loras)
    info.params = {key: scalar_text(value) for key, value in params.items() if value is not None}
    later = [sampler_id for sampler_id in samplers if sampler_id != primary]
    _comfy_second_pass(comfy, primary, later, info.model, info.params)
    return info


def parse_comfyui(texts: dict[str, str]) -> GenerationInfo | None:
    if "prompt" not in texts and "workflow" not in texts:
        return None
    graph = load_json(texts.get("prompt"))
    info = _parse_comfy_graph(graph) if isinstance(graph, dict) else None
    if info is None:
        if not isinstance(load_json(texts.get("workflow")), dict):
            return None
        info = GenerationInfo(source=COMFYUI)  # UI workflow only: nothing typed to read
    info.raw = texts.get("prompt") or texts.get("workflow", "")
    return info
