"""What an extension sees: ``setup(ext)`` gets an ``Extension`` and registers through it.

An extension is a folder ``extensions/<name>/`` whose ``extension.py`` defines
``setup(ext)`` (or an installed package with an ``sdxl_webui.extensions`` entry point naming
such a function). Through ``ext`` it may:

* add a tab (``ext.add_tab(title, build)``: ``build(ui)`` makes Gradio components);
* add HTTP routes (``ext.router``, a FastAPI ``APIRouter`` mounted at ``/ext/<name>/``,
  behind the app's auth, in the OpenAPI schema);
* hook into every job at fixed points (``ext.on_request``, ``ext.before_generation``,
  ``ext.on_image``, ``ext.on_job_done``), changing the request or replacing an image;
* register samplers, upscalers and preprocessors by name;
* add scripts (``ext.add_script(script)``): a selectable one runs the whole job (A1111's
  ``script_name`` / ``script_args``), an always-on one gets its arguments from
  ``alwayson_scripts``; the arguments are a pydantic model, validated at every door;
* read its own settings (``ext.settings``) and log (``ext.log``).

It never sees the model manager, the history store or the app context: the hooks get the
request (a frozen value), the image, and a ``JobView`` (progress, owner name, stop flag).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

#: the points of a job an extension can hook, in the order they run
HOOK_POINTS = ("request", "before_generation", "image", "job_done")
GENERATION_TABS = ("txt2img", "img2img", "inpaint", "outpaint")


class NoArgs(BaseModel):
    """A script without arguments."""


@dataclass
class JobView:
    """The narrow view of one job a hook or script gets."""

    owner: str  # the job's owner name ("local" for the local user)
    mode: str
    stopped: Callable[[], bool] = lambda: False
    progress: Callable[[int, int], None] = lambda done, total: None  # scripts' own steps
    # a selectable script's way to make pictures: runs a request (validated, same device
    # turn, cached models) and returns its GenerationResult
    generate: Callable[..., Any] | None = None
    # what a script may check its values against before it starts (names only); None where
    # the door offers no list, so a script cannot tell a missing name from an unknown one
    checkpoint_names: Callable[[], list[str]] | None = None
    sampler_names: Callable[[], list[str]] | None = None


class Script:
    """A script, as A1111 knows them. Subclass it: ``title`` (what ``script_name`` and the
    UI's Script dropdown say, matched without case), ``args`` (a pydantic model whose fields,
    in order, are A1111's positional ``script_args``), ``alwayson`` (runs on every job that
    sends its ``alwayson_scripts`` entry), ``modes`` (the tabs it shows in).

    A selectable script implements ``run(job, req, args) -> GenerationResult`` (it makes the
    job's pictures, with ``job.generate``); an always-on one ``process(job, req, args) ->
    GenerationRequest`` (before generation) and/or ``postprocess_image(job, req, args,
    image) -> image``. ``ui(tab)`` builds Gradio components whose values, in order, fill
    ``args``' fields (default: one per field, made from the field's type)."""

    title: ClassVar[str] = ""
    args: ClassVar[type[BaseModel]] = NoArgs
    alwayson: ClassVar[bool] = False
    modes: ClassVar[tuple[str, ...]] = GENERATION_TABS

    def run(self, job: JobView, req, args: BaseModel):
        raise NotImplementedError

    def process(self, job: JobView, req, args: BaseModel):
        return req

    def postprocess_image(self, job: JobView, req, args: BaseModel, image):
        return image

    def ui(self, tab: str) -> list:
        """Components for the script's arguments in ``tab`` (inside its accordion)."""
        from webui.extensions.script_ui import default_components

        return default_components(self.args)


@dataclass
class Registrations:
    """Everything one extension registered (read by the host)."""

    tabs: list[tuple[str, Callable]] = field(default_factory=list)
    hooks: dict[str, list[Callable]] = field(
        default_factory=lambda: {p: [] for p in HOOK_POINTS})
    scripts: list[Script] = field(default_factory=list)
    samplers: dict[str, Callable] = field(default_factory=dict)
    upscalers: dict[str, Any] = field(default_factory=dict)
    preprocessors: dict[str, Callable] = field(default_factory=dict)
    router: Any = None


class Extension:
    """The ``ext`` handed to ``setup(ext)``."""

    def __init__(self, name: str, settings: dict | None = None):
        self.name = name
        self.settings: dict = dict(settings or {})
        self.log = logging.getLogger(f"webui.ext.{name}")
        self.registered = Registrations()

    # -- UI and HTTP ----------------------------------------------------------------------
    def add_tab(self, title: str, build: Callable) -> None:
        """A tab titled ``title``; ``build()`` makes its Gradio components (called inside
        the tab while the page is built)."""
        self.registered.tabs.append((title, build))

    @property
    def router(self):
        """A FastAPI ``APIRouter`` served at ``/ext/<name>/`` (behind the app's auth)."""
        if self.registered.router is None:
            from fastapi import APIRouter

            self.registered.router = APIRouter(prefix=f"/ext/{self.name}",
                                               tags=[f"extension: {self.name}"])
        return self.registered.router

    # -- hooks ----------------------------------------------------------------------------
    def on_request(self, fn: Callable) -> Callable:
        """``fn(job, req) -> req | None``: the validated request (return a changed copy
        made with ``dataclasses.replace``; it is validated again)."""
        self.registered.hooks["request"].append(fn)
        return fn

    def before_generation(self, fn: Callable) -> Callable:
        """``fn(job, req) -> None``: the job got the device and starts now."""
        self.registered.hooks["before_generation"].append(fn)
        return fn

    def on_image(self, fn: Callable) -> Callable:
        """``fn(job, req, image) -> PIL image | None``: each picture made, before it is
        saved (return a replacement)."""
        self.registered.hooks["image"].append(fn)
        return fn

    def on_job_done(self, fn: Callable) -> Callable:
        """``fn(job, req, images) -> None``: the job's pictures are saved."""
        self.registered.hooks["job_done"].append(fn)
        return fn

    # -- registries -----------------------------------------------------------------------
    def add_script(self, script: Script) -> Script:
        if not script.title:
            raise ValueError("a script needs a title")
        self.registered.scripts.append(script)
        return script

    def register_sampler(self, name: str, make_scheduler: Callable) -> None:
        """``make_scheduler(config) -> diffusers scheduler`` listed as sampler ``name``."""
        self.registered.samplers[name] = make_scheduler

    def register_upscaler(self, name: str, upscaler: Any) -> None:
        """An object with ``upscale(image, scale) -> image``, listed as upscaler ``name``."""
        self.registered.upscalers[name] = upscaler

    def register_preprocessor(self, name: str, fn: Callable) -> None:
        """A ControlNet preprocessor ("module") ``name``: ``fn(image, resolution=512,
        threshold_a=-1, threshold_b=-1) -> image`` (a PIL image or an array), called with the
        keywords it names (all of them when it takes ``**params``; -1: its default)."""
        self.registered.preprocessors[name] = fn
