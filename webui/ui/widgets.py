"""Widgets and glue shared by every generation tab: the common controls (model, size,
sampler, steps, CFG, seed, batch), the output panel, and running a request for the caller."""

from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from math import gcd

import gradio as gr
from PIL import Image

from webui.caller import resolve_caller
from webui.choices import AUTOMATIC, SAMPLERS, SCHEDULE_TYPES, split_sampler_name
from webui.engine.progress import JobProgress
from webui.metadata.exif import exif_texts
from webui.metadata.infotext import parse_infotext
from webui.metadata.png import png_texts
from webui.models.loader import ModelLoadError
from webui.models.lora import lora_names
from webui.models.registry import SDXL_NATIVE_SIZE, ModelNotFound
from webui.queue import QueueFull
from webui.user_settings import preview_interval
from webui.request import MAX_CLIP_SKIP, SIZE_PRESETS, GenerationRequest, RequestError

log = logging.getLogger(__name__)

CUSTOM = "Custom"
USER_ERRORS = (RequestError, ModelNotFound, ModelLoadError, QueueFull)


def preset_label(w: int, h: int, ratio: tuple[int, int] | None = None) -> str:
    """``"1152x896 (9:7)"``: the size and its aspect ratio (``ratio`` when given: a scaled
    preset is labelled with the ratio of the SDXL preset it came from)."""
    g = gcd(w, h)
    a, b = ratio or (w // g, h // g)
    return f"{w}x{h} ({a}:{b})"


PRESET_CHOICES = [preset_label(w, h) for w, h in SIZE_PRESETS] + [CUSTOM]


def _scaled(side: int, native: int) -> int:
    """``side`` of an SDXL preset scaled by native / 1024, to the nearest multiple of 8."""
    return max(8, int(side * native / SDXL_NATIVE_SIZE / 8 + 0.5) * 8)


def size_presets(native: int = SDXL_NATIVE_SIZE) -> list[tuple[int, int, str]]:
    """(width, height, label) of the size presets of a model drawing ``native`` x ``native``
    pixels: SDXL's 1-megapixel aspect-ratio presets scaled by native / 1024, each side a
    multiple of 8, each size once, labelled with the SDXL preset's ratio. At 1024 they are
    exactly ``SIZE_PRESETS``; the first is always native x native."""
    native = max(8, int(native / 8 + 0.5) * 8)
    presets: list[tuple[int, int, str]] = []
    for w, h in SIZE_PRESETS:
        sw, sh = _scaled(w, native), _scaled(h, native)
        if any((sw, sh) == (pw, ph) for pw, ph, _ in presets):
            continue
        g = gcd(w, h)
        presets.append((sw, sh, preset_label(sw, sh, (w // g, h // g))))
    return presets


def model_presets(native: int, limits=None) -> list[tuple[int, int, str]]:
    """``size_presets(native)`` that the size sliders can hold (within ``limits``)."""
    lo, hi = (limits.min_size, limits.max_size) if limits is not None else (0, 1 << 30)
    return [p for p in size_presets(native) if lo <= p[0] <= hi and lo <= p[1] <= hi]


def preset_for(width, height, native: int = SDXL_NATIVE_SIZE, limits=None) -> str:
    """The preset label of a width x height among a ``native``-size model's presets, or
    Custom when none has that size."""
    size = _size(width, height)
    return next((label for w, h, label in model_presets(native, limits) if (w, h) == size),
                CUSTOM)


def preset_lookup(model: str | None, native: int, limits=None) -> dict:
    """What the page keeps of the checkpoint the presets follow: its name, native size and
    ``sizes``, ``{"WxH": label}`` of its presets, where a slider's size is looked up."""
    return {"model": model, "native": native,
            "sizes": {f"{w}x{h}": label for w, h, label in model_presets(native, limits)}}


def preset_choices(native: int, limits=None) -> list[str]:
    """The preset dropdown's choices for a ``native``-size model: its presets, then Custom."""
    return [label for _, _, label in model_presets(native, limits)] + [CUSTOM]


def _size(width, height) -> tuple[int, int] | None:
    try:
        return int(width), int(height)
    except (TypeError, ValueError):
        return None


def preset_info(native: int) -> str:
    """The preset dropdown's info line: the selected checkpoint's native size."""
    return f"the checkpoint's native size: {native}x{native} px"


#: JS (width, height, lookup) -> preset label, ``lookup`` the selected checkpoint's
#: ``preset_lookup``: the dropdown follows the sliders in the page itself
PRESET_FOR_JS = ("(w, h, lookup) => (lookup?.sizes ?? {})[`${Math.round(w)}x${Math.round(h)}`]"
                 " ?? %s" % json.dumps(CUSTOM))


def preset_size(label: str) -> tuple[int, int] | None:
    """``"1152x896 (9:7)"`` -> (1152, 896); Custom -> None."""
    if label == CUSTOM or not label:
        return None
    w, h = label.split(" ")[0].split("x")
    return int(w), int(h)


@dataclass
class CommonControls:
    """The controls every generation tab has (a tab's request map names them, see
    ``webui.ui.fieldmap.common_inputs``)."""

    model: gr.Dropdown
    width: gr.Slider
    height: gr.Slider
    sampler: gr.Dropdown
    scheduler: gr.Dropdown
    clip_skip: gr.Slider
    steps: gr.Slider
    cfg_scale: gr.Slider
    seed: gr.Number
    batch_size: gr.Slider
    batch_count: gr.Slider
    refiner: gr.Dropdown
    refiner_switch_at: gr.Slider
    vae: gr.Dropdown
    random_seed: gr.Button  # 🎲: seed -1
    reuse_seed: gr.Button  # ♻️: the seed of the tab's last job (see ``wire_reuse_seed``)

    def default_targets(self) -> list:
        """The controls the Settings tab's defaults apply to, in ``user_defaults`` order."""
        return [self.model, self.refiner, self.sampler, self.scheduler, self.steps,
                self.cfg_scale, self.width, self.height]


NONE = "None"


def none_if_unset(value: str | None) -> str | None:
    """Dropdown "None" (or empty) -> None."""
    return None if value in (None, "", NONE) else value


def user_defaults(ctx) -> list:
    """Defaults for new jobs from the Settings tab (when the app has one), within the limits:
    [model, refiner, sampler, schedule type, steps, cfg_scale, width, height]. A default
    sampler that names its schedule ("DPM++ 2M Karras") fills both dropdowns; a size not
    saved is the default checkpoint's native size."""
    limits = ctx.settings.limits
    manager = ctx.manager
    current = ctx.user_settings.current
    get = lambda name, default: getattr(current, name) or default  # noqa: E731
    names = manager.checkpoint_names()
    model = get("default_model", None)
    model = model if model in names else ctx.checkpoint.current()
    refiner = get("default_refiner", NONE)
    refiner = refiner if refiner in manager.refiner_names() else NONE
    sampler, scheduler = split_sampler_name(get("sampler", "Euler a")) or ("Euler a", AUTOMATIC)
    size = lambda v: min(max(int(v) // 8 * 8, limits.min_size), limits.max_size)  # noqa: E731
    # no size saved: the default checkpoint's native square (a 128 px model at 1024 px
    # would draw a tiled mess, slowly)
    native = manager.native_size(model)
    return [model, refiner, sampler, scheduler,
            min(int(get("steps", 20)), limits.max_steps),
            min(float(get("cfg_scale", 7.0)), limits.max_cfg),
            size(get("width", native)), size(get("height", native))]


def common_controls(ctx, tab: str, with_size: bool = True) -> CommonControls:
    """Checkpoint picker with Refresh, size presets (the checkpoint's), sampler, steps, CFG,
    seed, batch.

    In img2img the checkpoint list also offers refiners: a refiner run as img2img at a low
    denoising strength refines an existing image.
    """
    limits = ctx.settings.limits
    manager = ctx.manager
    (d_model, d_refiner, d_sampler, d_scheduler, d_steps, d_cfg, d_width,
     d_height) = user_defaults(ctx)
    names = manager.checkpoint_names()
    if tab == "img2img":
        names = names + [n for n in manager.refiner_names() if n not in names]
    with gr.Row():
        model = gr.Dropdown(names, value=d_model, label="Checkpoint",
                            scale=4, allow_custom_value=True, elem_id=f"{tab}_checkpoint")
        refresh = gr.Button("Refresh", scale=1, min_width=60, elem_id=f"{tab}_refresh")
    no_model = gr.Markdown("" if names else f"**{manager.no_model_message()}**",
                           elem_id=f"{tab}_no_model")
    native = manager.native_size(d_model)
    with gr.Row(visible=with_size):
        # the presets of the selected checkpoint's native size (SDXL's at 1024)
        preset = gr.Dropdown(preset_choices(native, limits),
                             value=preset_for(d_width, d_height, native, limits),
                             label="Size preset", info=preset_info(native), scale=2,
                             elem_id=f"{tab}_preset")
        # which checkpoint those presets are for, and {"WxH": label} of them, for the
        # page's slider -> preset lookup
        presets = gr.JSON(preset_lookup(d_model, native, limits), visible=False,
                          elem_id=f"{tab}_preset_lookup")
        width = gr.Slider(limits.min_size, limits.max_size, value=d_width, step=8,
                          label="Width", scale=2, elem_id=f"{tab}_width")
        height = gr.Slider(limits.min_size, limits.max_size, value=d_height, step=8,
                           label="Height", scale=2, elem_id=f"{tab}_height")
    with gr.Row():
        # A1111's samplers, then the extensions' (webui.extensions)
        extra = list(getattr(manager, "extra_samplers", None) or ())
        sampler = gr.Dropdown(SAMPLERS + extra, value=d_sampler, label="Sampling method",
                              elem_id=f"{tab}_sampler")
        # A1111 1.9+: the schedule apart from the sampler (Automatic: the sampler's own)
        scheduler = gr.Dropdown(list(SCHEDULE_TYPES.values()), value=d_scheduler,
                                label="Schedule type", elem_id=f"{tab}_scheduler")
        steps = gr.Slider(1, limits.max_steps, value=d_steps, step=1, label="Sampling steps",
                          elem_id=f"{tab}_steps")
    with gr.Row():
        cfg = gr.Slider(0, limits.max_cfg, value=d_cfg, step=0.5, label="CFG Scale",
                        elem_id=f"{tab}_cfg_scale", scale=3)
        clip_skip = gr.Slider(1, MAX_CLIP_SKIP, value=1, step=1, label="Clip skip",
                              info="1 = SDXL's own layer; 2 skips one more",
                              elem_id=f"{tab}_clip_skip", scale=1)
    with gr.Row():
        seed = gr.Number(-1, label="Seed (-1 = random)", precision=0, elem_id=f"{tab}_seed",
                         scale=3)
        random_seed = gr.Button("🎲", scale=0, min_width=40, elem_id=f"{tab}_random_seed")
        reuse_seed = gr.Button("♻️", scale=0, min_width=40, elem_id=f"{tab}_reuse_seed")
        # a slider needs max > min: with a cap of 1 (the demo) it shows 1 and is locked
        batch_count = gr.Slider(1, max(2, limits.max_batch_count), value=1, step=1,
                                label="Batch count", elem_id=f"{tab}_batch_count",
                                interactive=limits.max_batch_count > 1)
        batch_size = gr.Slider(1, max(2, limits.max_batch_size), value=1, step=1,
                               label="Batch size", elem_id=f"{tab}_batch_size",
                               interactive=limits.max_batch_size > 1)

    with gr.Accordion("Refiner and VAE", open=False, elem_id=f"{tab}_refiner_accordion"):
        with gr.Row():
            refiner = gr.Dropdown([NONE] + manager.refiner_names(), value=d_refiner,
                                  label="Refiner", elem_id=f"{tab}_refiner")
            switch_at = gr.Slider(0.01, 1.0, value=0.8, step=0.01, label="Switch at",
                                  info="fraction of the steps the base runs before the "
                                       "refiner takes over", elem_id=f"{tab}_refiner_switch_at")
            vae = gr.Dropdown([NONE] + manager.vae_names(), value=NONE,
                              label="VAE (None = the checkpoint's own)", elem_id=f"{tab}_vae")

    def on_preset(label):
        size = preset_size(label)
        return (gr.update(), gr.update()) if size is None else size

    def follow_model(name, w, h, snap: bool) -> tuple:
        """The preset dropdown and lookup for checkpoint ``name``; with ``snap``, a size
        that is none of its presets becomes its native square (width, height)."""
        native = manager.native_size(none_if_unset(name))
        sizes = [(pw, ph) for pw, ph, _ in model_presets(native, limits)]
        if snap and with_size and _size(w, h) not in sizes:
            w = h = min(max(native, limits.min_size), limits.max_size)
        return (gr.update(choices=preset_choices(native, limits),
                          value=preset_for(w, h, native, limits), info=preset_info(native)),
                preset_lookup(name, native, limits), w, h)

    def refresh_models(name, w, h):
        names = manager.checkpoint_names()
        message = "" if names else f"**{manager.no_model_message()}**"
        if tab == "img2img":
            names = names + [n for n in manager.refiner_names() if n not in names]
        chosen = ctx.checkpoint.current()
        return (gr.update(choices=names, value=chosen), message,
                gr.update(choices=[NONE] + manager.refiner_names()),
                gr.update(choices=[NONE] + manager.vae_names()),
                *follow_model(chosen, w, h, snap=chosen != name))

    # a preset picked sets the sliders; any size (typed, sent, a default) picks its preset
    # or Custom, in the page alone
    preset.input(on_preset, preset, [width, height], api_visibility="private", queue=False)
    for slider in (width, height):
        slider.change(None, [width, height, presets], preset, js=PRESET_FOR_JS,
                      api_visibility="private", queue=False)
    # the presets follow the checkpoint however it changes (a pick, Refresh, a default at
    # page load, parameters sent from an image); only a person picking another checkpoint
    # (select: a click or Enter on an option; "input" also fires on a mere blur) or Refresh
    # changing it also moves a size that is none of the new presets to the model's native
    # square (a default or a sent size stays). A pick is answered twice, in either order:
    # the label is looked up in the page again after each answer.
    relabel = dict(fn=None, inputs=[width, height, presets], outputs=preset, js=PRESET_FOR_JS,
                   api_visibility="private", queue=False)
    model.change(lambda name, w, h: follow_model(name, w, h, snap=False)[:2],
                 [model, width, height], [preset, presets], api_visibility="private",
                 queue=False).then(**relabel)
    # select fires before change is even sent: ``presets`` still names the model shown
    model.select(lambda name, w, h, shown: follow_model(
                     name, w, h, snap=name != (shown or {}).get("model")),
                 [model, width, height, presets], [preset, presets, width, height],
                 api_visibility="private", queue=False).then(**relabel)
    # in the page alone: a click answers at once, even while a job holds the queue
    random_seed.click(None, None, seed, js="() => -1", api_visibility="private", queue=False)
    refresh.click(refresh_models, [model, width, height],
                  [model, no_model, refiner, vae, preset, presets, width, height],
                  api_visibility="private").then(**relabel)
    return CommonControls(model, width, height, sampler, scheduler, clip_skip, steps, cfg, seed,
                          batch_size, batch_count, refiner, switch_at, vae, random_seed,
                          reuse_seed)


def wire_reuse_seed(controls: CommonControls, output: OutputPanel) -> None:
    """♻️ puts the seed the tab's last job used ("Seed used": the selected image's, the
    first one's until another is picked) into the Seed box; before any job it leaves the
    box as it is."""
    controls.reuse_seed.click(
        None, [output.used_seed, controls.seed], controls.seed,
        js="(used, seed) => (used === null || used === undefined || used === '') ? seed : used",
        api_visibility="private", queue=False)


def lora_picker(ctx, tab: str, prompt: gr.Textbox) -> gr.Dropdown:
    """A LoRA dropdown that inserts ``<lora:name:1>`` into ``prompt``, and the trigger words
    (from kohya training metadata) of each LoRA the prompt tags: they go when the tag goes."""
    manager = ctx.manager
    with gr.Row():
        picker = gr.Dropdown(manager.lora_names(), value=None, label="Add LoRA", scale=3,
                             elem_id=f"{tab}_lora_picker")
        words = gr.Markdown(elem_id=f"{tab}_lora_words")

    def insert(name, text):
        if not name:
            return gr.update()
        tag = f"<lora:{name}:1>"
        text = text or ""
        return text if tag in text else (f"{text} {tag}".strip())

    picker.select(insert, [picker, prompt], prompt, api_visibility="private", queue=False)
    # the folder is read when the list opens: a LoRA trained or copied in meanwhile is
    # there at once, without Refresh or a restart
    picker.focus(lambda: gr.update(choices=manager.lora_names()), None, picker,
                 api_visibility="private", queue=False, show_progress="hidden")
    prompt.change(lambda text: trigger_words_text(manager, text), prompt, words,
                  api_visibility="private", queue=False, show_progress="hidden",
                  trigger_mode="always_last")
    return picker


def trigger_words_text(manager, prompt: str | None) -> str:
    """"Trigger words: ..." for the LoRAs tagged in ``prompt`` that have any (one line each,
    named when there are several); "" when none."""
    found = []
    for name in lora_names(prompt or ""):
        try:
            info = manager.registry.get(name, "Lora")
        except ModelNotFound:
            continue  # a tag still being typed, or a LoRA not installed
        trigger = manager.registry.lora_trigger_words(info)
        if trigger:
            found.append((name, ", ".join(trigger)))
    if len(found) == 1:
        return f"Trigger words: {found[0][1]}"
    return "\n\n".join(f"Trigger words ({name}): {text}" for name, text in found)


@dataclass
class OutputPanel:
    gallery: gr.Gallery
    info: gr.Textbox
    #: the seed, as the generate event (and the API) returns it: a hidden Number, since
    #: Gradio's Number shows 0 where there is no value yet; ``seed_shown`` displays it
    used_seed: gr.Number
    #: where the job's one progress bar is drawn (above the gallery, never over it)
    progress: gr.Markdown
    seed_shown: gr.Textbox
    tab: str = ""

    def outputs(self) -> list:
        return [self.gallery, self.info, self.used_seed]


#: JS copying the seed of the job just finished into the "Seed used" box ("" when none)
SHOW_SEED_JS = "(seed) => (seed === null || seed === undefined) ? '' : String(seed)"


def output_panel(tab: str) -> OutputPanel:
    """A progress area, the Output gallery (live previews, then the results), the seed
    actually used and the selected image's infotext (the first until another is clicked)."""
    progress = gr.Markdown("", elem_id=f"{tab}_progress", elem_classes=["job-progress"],
                           min_height=48)
    # not interactive: an empty Output is not an upload box; "contain" keeps a single
    # result's aspect ratio
    gallery = gr.Gallery(label="Output", columns=2, height=512, format="png",
                         interactive=False, object_fit="contain", elem_id=f"{tab}_gallery")
    used_seed = gr.Number(None, precision=0, visible=False, elem_id=f"{tab}_used_seed_value")
    seed_shown = gr.Textbox("", label="Seed used", lines=1, max_lines=1, interactive=False,
                            elem_id=f"{tab}_used_seed")
    info = gr.Textbox(label="Generation parameters", lines=4, interactive=False,
                      elem_id=f"{tab}_info")
    gallery.select(selected_image_info, gallery, [info, used_seed, seed_shown],
                   api_visibility="private", queue=False, show_progress="hidden")
    return OutputPanel(gallery, info, used_seed, progress, seed_shown, tab)


def image_infotext(path) -> str:
    """The A1111 infotext an image file carries (PNG ``parameters`` chunk or EXIF
    UserComment); "" when it has none (a live preview) or cannot be read."""
    try:
        with Image.open(path) as img:
            return (png_texts(img).get("parameters") or exif_texts(img).get("parameters")
                    or "")
    except (OSError, ValueError):
        return ""


def selected_image_info(items, evt: gr.SelectData):
    """(infotext, seed, seed shown) of the Output image just clicked: a batch's images
    differ in seed, so each shows its own. A live preview (no parameters) changes nothing."""
    index = evt.index if isinstance(evt.index, int) else 0
    if not items or not 0 <= index < len(items):
        return gr.update(), gr.update(), gr.update()
    item = items[index]
    text = image_infotext(item[0] if isinstance(item, (list, tuple)) else item)
    if not text:
        return gr.update(), gr.update(), gr.update()
    seed = parse_infotext(text)["params"].get("Seed", "")
    if not seed.lstrip("-").isdigit():
        return text, gr.update(), gr.update()
    return text, int(seed), seed


@dataclass
class Preview:
    """A live preview of a running job: the image at ``step`` of ``total``."""

    image: object
    step: int
    total: int


def progress_text(job: JobProgress, elapsed: float) -> str:
    """What the progress bar says: the place in line, starting (model, prompt), or the step
    and ETA; then the time since Generate (the page shows this one, not Gradio's timer, which
    restarts at every live preview)."""
    if job.queue_position is not None or job.total_steps:
        what = job.describe()
    else:
        what = "Starting (model, prompt)"
    return f"{what} · {elapsed:.1f}s elapsed"


def report_progress(progress, job: JobProgress, elapsed: float) -> None:
    """Hand the job's state to Gradio's progress bar (always a fraction, so its text shows)."""
    running = job.queue_position is None and job.total_steps
    progress((job.done_steps, job.total_steps) if running else 0.0,
             desc=progress_text(job, elapsed), unit="steps")


def job_stream(ctx, req: GenerationRequest, request: gr.Request | None, progress,
               user_errors: tuple = USER_ERRORS):
    """The one way the UI runs a generation: run ``req`` as the caller's job (``ctx.jobs.run``,
    the same call the APIs make), report its place in line and its steps to ``progress``
    (Gradio's progress bar), yield a ``Preview`` every N steps (see Settings) while it runs,
    and finally the ``JobOutcome`` (its saved images included).

    The job runs in a worker thread; this generator stays in Gradio's thread so the progress
    bar and the previews go to this caller only, and the caller's Stop (``stop_button``)
    stops it. ``user_errors`` become ``gr.Error`` with the plain message; the app keeps
    serving. A client that disconnects stops its job.
    """
    who = resolve_caller(ctx, request)
    job = JobProgress(preview_every=preview_interval(ctx))
    done = threading.Event()
    changed = threading.Event()  # set by the job at every step, so previews go out at once
    job.listeners.append(lambda _p: changed.set())
    box: dict = {}

    def work():
        try:
            box["outcome"] = ctx.jobs.run(req, owner=who, progress=job)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()
            changed.set()

    worker = threading.Thread(target=work, name=f"job-{req.mode}", daemon=True)
    worker.start()
    started, shown_step = time.monotonic(), -1
    try:
        while not done.is_set():
            changed.wait(0.5)
            changed.clear()
            # every turn, changed or not, so the elapsed time keeps counting
            report_progress(progress, job, time.monotonic() - started)
            if job.preview is not None and job.preview_step != shown_step and not done.is_set():
                shown_step = job.preview_step
                yield Preview(job.preview, shown_step, job.total_steps)
                # a yield ends Gradio's "pending" state (bar gone, its timer back at 0):
                # report again at once so the bar is back and our own time goes on
                report_progress(progress, job, time.monotonic() - started)
    except GeneratorExit:  # the page was closed or the event cancelled: stop the job
        job.stop()
        raise
    worker.join()
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, user_errors):
            log.warning("%s refused: %s", req.mode, exc)
            raise gr.Error(str(exc), print_exception=False) from None  # logged above
        raise exc
    for warning in box["outcome"].result.request.policy_warnings:  # the prompt policy's
        gr.Warning(warning, duration=20)
    yield box["outcome"]


def stream_for_caller(ctx, req: GenerationRequest, request: gr.Request | None, progress):
    """A generation tab's run (``job_stream``): yield (gallery, infotext, seed): live
    previews while it runs, then the saved images."""
    with closing(job_stream(ctx, req, request, progress)) as events:
        for event in events:
            if isinstance(event, Preview):
                yield ([(event.image, f"preview, step {event.step}")],
                       f"Preview at step {event.step}/{event.total}", None)
            else:
                yield final_outputs(event)


def final_outputs(outcome):
    """(gallery of saved files, first infotext, seed) for a finished job; the prompt
    policy's warnings and what validation adjusted (e.g. a resized mask) are said first."""
    result = outcome.result
    # each picture's caption: its seed, and what saving said of it (not watermarked, blurred
    # by the output filter); the Generation parameters below stay the plain infotext
    gallery = [(str(s.path), " · ".join([f"seed {g.seed}", *getattr(g, "notes", ())]))
               for s, g in zip(outcome.saved, result.images)]
    info = result.images[0].infotext if result.images else ""
    notices = [f"Warning: {w}" for w in result.request.policy_warnings] + [
        f"Note: {n}" for n in result.request.notices]
    if notices:
        info = "\n".join(notices) + ("\n\n" + info if info else "")
    if result.interrupted:
        info = (info + "\n\n" if info else "") + (
            f"Stopped: {len(result.images)} image(s) finished before Stop.")
    return gallery, info, result.seed


def stop_button(ctx, tab: str) -> gr.Button:
    """A Stop button that stops the caller's own job, nobody else's."""
    btn = gr.Button("Stop", variant="stop", elem_id=f"{tab}_stop")

    def stop(request: gr.Request = None):
        ctx.jobs.stop(resolve_caller(ctx, request))

    btn.click(stop, None, None, api_name="stop" if tab == "txt2img" else False, queue=False)
    return btn


def skip_button(ctx, tab: str) -> gr.Button:
    """A1111's Skip: the caller's own job finishes the image it is making as it is now (it
    is kept and saved) and goes on with the next one of the batch count."""
    btn = gr.Button("Skip", elem_id=f"{tab}_skip")

    def skip(request: gr.Request = None):
        ctx.jobs.skip(resolve_caller(ctx, request))

    btn.click(skip, None, None, api_name="skip" if tab == "txt2img" else False, queue=False)
    return btn


def tab_header(ctx, tab: str):
    """The top row of a generation tab: prompt box (with token counter, styles and the LoRA
    picker) beside Generate and Stop. Returns (prompt box, Generate button)."""
    from webui.ui.prompt_box import prompt_box

    with gr.Row():
        with gr.Column(scale=3):
            box = prompt_box(tab, ctx.styles)
            lora_picker(ctx, tab, box.prompt)
        with gr.Column(scale=1):
            generate = gr.Button("Generate", variant="primary", elem_id=f"{tab}_generate")
            with gr.Row():
                stop_button(ctx, tab)
                skip_button(ctx, tab)
    return box, generate
