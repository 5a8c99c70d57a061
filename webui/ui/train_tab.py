"""The Train tab: teach the model a person, product or style from a few images, as a LoRA.

Images come by drag and drop or from the Gallery; a preset fills the Advanced settings; Train
queues the job on ``ctx.training`` (the same service and device queue as the API's
``/sdapi/v1/train/lora``). While it runs a timer shows its step, loss curve, ETA and sample
images; Stop keeps the last saved state and Resume continues it. The table below lists past
trainings (the database's records).
"""

from __future__ import annotations

import logging

import gradio as gr

from webui.caller import resolve_caller
from webui.errors import RequestError
from webui.history.query import GalleryQuery
from webui.queue import QueueFull
from webui.training.spec import (DEFAULT_CAPTION, DEFAULT_CLASS, DEFAULT_TRIGGER, OPTIMIZERS,
                                 TrainingSpec)

log = logging.getLogger(__name__)

CLASS_WORDS = ["person", "man", "woman", "product", "object", "animal", "dog", "cat", "style",
               "building", "car"]
#: preset -> Advanced values (steps, rank, learning rate, train text encoders)
PRESETS = {
    "Quick": dict(steps=500, rank=16, learning_rate=1e-4, train_text_encoders=False),
    "Standard": dict(steps=1000, rank=16, learning_rate=1e-4, train_text_encoders=False),
    "Style": dict(steps=1500, rank=32, learning_rate=5e-5, train_text_encoders=False),
}
HEADERS = ["Id", "LoRA", "State", "Step", "Steps", "Base", "Trigger", "Class", "Started",
           "Minutes", "Error"]
GALLERY_CHOICES = 200  # the newest images offered in "From the Gallery"


def _caption_lines(count: int, trigger: str, class_word: str, style: bool = False) -> str:
    if style:
        line = f"an image in the style of {trigger or DEFAULT_TRIGGER}"
    else:
        line = DEFAULT_CAPTION.format(trigger=trigger or DEFAULT_TRIGGER,
                                      class_word=class_word or DEFAULT_CLASS)
    return "\n".join([line] * count)


def _status_text(s) -> str:
    if s is None:
        return "No training yet."
    parts = [f"**{s.name}** (job {s.id}): **{s.state}**"]
    if s.state == "queued" and s.position:
        parts.append(f"place {s.position} in line")
    if s.phase:
        parts.append(s.phase)
    if s.total_steps:
        parts.append(f"step {s.step}/{s.total_steps}")
    if s.loss is not None:
        parts.append(f"loss {s.loss:.4f}")
    if s.eta:
        parts.append(f"about {int(s.eta // 60)} min {int(s.eta % 60)} s left")
    if s.state == "done":
        parts.append(f"use it as `<lora:{s.name}:1>` with “{s.trigger}” in the prompt")
    text = " · ".join(parts)
    if s.error:
        text += f"\n\n{s.error}"
    return text


def _loss_frame(s):
    import pandas as pd

    losses = s.losses if s is not None else []
    return pd.DataFrame({"step": list(range(1, len(losses) + 1)), "loss": losses})


def _rows(statuses) -> list[list]:
    return [[s.id, s.name, s.state, s.step, s.total_steps, s.base_model, s.trigger,
             s.class_word, s.created, round(s.duration / 60, 1), s.error[:120]]
            for s in statuses]


def build_train_tab(ctx):
    """Build the tab; returns the function that refreshes its lists (run when it opens)."""
    service = ctx.training
    gr.Markdown(
        "Teach the model a person, product, object or style from **3 to 50 images**. The "
        "result is a LoRA in `models/Lora/` that every tab can use as `<lora:name:1>` with the "
        "trigger word in the prompt. Training waits in the same line as image jobs.")
    if not service.enabled:
        gr.Markdown(f"**{service.disabled_reason}.**", elem_id="train_disabled")
    with gr.Row():
        with gr.Column(scale=3):
            files = gr.File(label="Training images (drop 3 to 50)", file_count="multiple",
                            file_types=["image"], elem_id="train_images")
            # custom values: the choices are filled when the tab opens (per caller), and an
            # API client names Gallery ids without opening it; ``gallery_paths`` checks them
            from_gallery = gr.Dropdown(label="…or pick from the Gallery", multiselect=True,
                                       choices=[], allow_custom_value=True,
                                       elem_id="train_from_gallery")
            captions = gr.Textbox(
                label="Captions, one line per image (the Gallery's picks follow the files; "
                      "empty lines: “a photo of <trigger> <class>”)", lines=5,
                elem_id="train_captions")
        with gr.Column(scale=2):
            name = gr.Textbox(label="LoRA name", placeholder="my-dog", elem_id="train_name")
            with gr.Row():
                trigger = gr.Textbox(label="Trigger word", value=DEFAULT_TRIGGER,
                                     elem_id="train_trigger")
                class_word = gr.Dropdown(label="Class word", choices=CLASS_WORDS,
                                         value=DEFAULT_CLASS, allow_custom_value=True,
                                         elem_id="train_class")
            choices = service.base_choices()
            current = ctx.checkpoint.current()
            base = gr.Dropdown(label="Base checkpoint", choices=choices,
                               value=current if current in choices else
                               (choices[0] if choices else None), elem_id="train_base")
            preset = gr.Radio(list(PRESETS), value="Quick", label="Preset",
                              elem_id="train_preset")
    with gr.Accordion("Advanced", open=False):
        with gr.Row():
            steps = gr.Number(label="Steps", value=500, precision=0, minimum=1,
                              elem_id="train_steps")
            rank = gr.Number(label="Rank", value=16, precision=0, minimum=1)
            alpha = gr.Number(label="Alpha (0: = rank)", value=0, minimum=0)
            lr = gr.Number(label="Learning rate", value=1e-4, elem_id="train_lr")
            resolution = gr.Number(label="Resolution", precision=0,
                                   value=ctx.manager.native_size(base.value),
                                   elem_id="train_resolution")
        with gr.Row():
            batch = gr.Number(label="Batch size", value=1, precision=0, minimum=1)
            accum = gr.Number(label="Gradient accumulation", value=1, precision=0, minimum=1)
            optimizer = gr.Dropdown(label="Optimizer", choices=list(OPTIMIZERS),
                                    value="AdamW")
            gamma = gr.Number(label="Min-SNR γ (0: off)", value=5.0, minimum=0)
            seed = gr.Number(label="Seed", value=0, precision=0, minimum=0)
        with gr.Row():
            text_encoders = gr.Checkbox(label="Train the text encoders", value=False)
            prior = gr.Checkbox(label="Prior preservation (class images made by the base)",
                                value=False, elem_id="train_prior")
            sample_every = gr.Number(label="Sample image every N steps (0: none)",
                                     value=100, precision=0, minimum=0,
                                     elem_id="train_sample_every")
    with gr.Row():
        train = gr.Button("Train", variant="primary", elem_id="train_start")
        stop = gr.Button("Stop", elem_id="train_stop")
        resume = gr.Button("Resume", elem_id="train_resume")
        job_id = gr.Number(label="Job", precision=0, value=None, elem_id="train_job",
                           scale=0, min_width=100)
    status = gr.Markdown("No training yet.", elem_id="train_status")
    with gr.Row():
        plot = gr.LinePlot(_loss_frame(None), x="step", y="loss", title="Loss",
                           elem_id="train_loss", height=240)
        samples = gr.Gallery(label="Samples (trigger prompt, same seed)", columns=4,
                             height=240, elem_id="train_samples")
    table = gr.Dataframe(headers=HEADERS, value=None, interactive=False,
                         elem_id="train_jobs", wrap=True)
    timer = gr.Timer(1.0, active=False)

    # -- handlers ---------------------------------------------------------------------------
    def apply_preset(which):
        p = PRESETS.get(which, PRESETS["Quick"])
        return p["steps"], p["rank"], p["learning_rate"], p["train_text_encoders"]

    preset.change(apply_preset, preset, [steps, rank, lr, text_encoders],
                  api_visibility="private")
    base.change(lambda b: ctx.manager.native_size(b), base, resolution,
                api_visibility="private")

    def fill_captions(paths, picks, trig, cls, which, current_text):
        count = len(paths or []) + len(picks or [])
        lines = (current_text or "").splitlines()
        if count and (not any(x.strip() for x in lines) or len(lines) != count):
            return _caption_lines(count, trig, cls, style=which == "Style")
        return current_text

    for source in (files, from_gallery):
        source.change(fill_captions, [files, from_gallery, trigger, class_word, preset,
                                      captions], captions, api_visibility="private")

    def gallery_paths(picks, who) -> list:
        out = []
        for pick in picks or []:
            text = str(pick).strip().lstrip("#").split(" ")[0]
            row = ctx.store.get(int(text), owner=who.owner, is_admin=who.is_admin) \
                if text.isdigit() else None
            if row is None:
                raise gr.Error(f"Gallery image {pick} is gone or not yours",
                               print_exception=False)
            out.append(ctx.store.image_path(row))
        return out

    def start(paths, picks, caption_text, lora_name, trig, cls, base_name, steps_v, rank_v,
              alpha_v, lr_v, res_v, batch_v, accum_v, opt_v, gamma_v, seed_v, te_v, prior_v,
              every_v, request: gr.Request):
        who = resolve_caller(ctx, request)
        images = [*(paths or []), *gallery_paths(picks, who)]
        lines = [x.strip() for x in (caption_text or "").splitlines()]
        if lines and not any(lines):
            lines = []
        try:
            spec = TrainingSpec(
                name=lora_name, trigger=trig, class_word=cls, images=tuple(images),
                captions=tuple(lines), base_model=base_name or None, steps=steps_v,
                rank=rank_v, alpha=alpha_v or None, learning_rate=lr_v, resolution=res_v,
                batch_size=batch_v, gradient_accumulation=accum_v, optimizer=opt_v,
                min_snr_gamma=gamma_v, seed=seed_v, train_text_encoders=bool(te_v),
                prior_preservation=bool(prior_v))
            run_id, warnings = service.submit(spec, who, sample_every=every_v or 0)
        except (RequestError, QueueFull) as exc:
            log.warning("training refused: %s", exc)
            raise gr.Error(str(exc), print_exception=False) from None
        for w in warnings:
            gr.Warning(w, duration=20)
        return (run_id, *show_training(run_id, request), gr.Timer(active=True))

    def show_training(run_id, request: gr.Request):
        who = resolve_caller(ctx, request)
        s = None
        if run_id:
            try:
                s = service.status(int(run_id), who)
            except RequestError as exc:
                raise gr.Error(str(exc), print_exception=False) from None
        pics = [(str(service.folder(s.id) / x["file"]), f"step {x['step']}")
                for x in (s.samples if s else [])]
        return _status_text(s), _loss_frame(s), pics, _rows(service.list(who))

    def tick(run_id, request: gr.Request):
        out = show_training(run_id, request)
        who = resolve_caller(ctx, request)
        active = False
        if run_id:
            with_state = service.status(int(run_id), who)
            active = with_state.state in ("queued", "running")
        return (*out, gr.Timer(active=active))

    def do_stop(run_id, request: gr.Request):
        if not run_id:
            raise gr.Error("no training job chosen", print_exception=False)
        try:
            service.stop(int(run_id), resolve_caller(ctx, request))
        except RequestError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return show_training(run_id, request)

    def do_resume(run_id, request: gr.Request):
        if not run_id:
            raise gr.Error("choose a stopped job (its number in the table) to resume",
                           print_exception=False)
        try:
            service.resume(int(run_id), resolve_caller(ctx, request))
        except RequestError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return (*show_training(run_id, request), gr.Timer(active=True))

    shown = [status, plot, samples, table]
    inputs = [files, from_gallery, captions, name, trigger, class_word, base, steps, rank,
              alpha, lr, resolution, batch, accum, optimizer, gamma, seed, text_encoders,
              prior, sample_every]
    train.click(start, inputs, [job_id, *shown, timer], api_name="train_lora")
    timer.tick(tick, job_id, [*shown, timer], api_visibility="private", queue=False)
    stop.click(do_stop, job_id, shown, api_name="train_lora_stop")
    resume.click(do_resume, job_id, [*shown, timer], api_name="train_lora_resume")
    job_id.submit(show_training, job_id, shown, api_name="train_lora_status")
    def pick_row(evt: gr.SelectData):
        row = getattr(evt, "row_value", None)
        return row[0] if row else None

    table.select(pick_row, None, job_id, api_visibility="private")

    def refresh(request: gr.Request):
        who = resolve_caller(ctx, request)
        page = ctx.store.search(GalleryQuery(per_page=GALLERY_CHOICES), owner=who.owner,
                                is_admin=who.is_admin, with_total=False)
        picks = [(f"#{r.id} {r.prompt[:60]}", str(r.id)) for r in page.rows]
        bases = service.base_choices()
        return (gr.Dropdown(choices=picks), gr.Dropdown(choices=bases),
                _rows(service.list(who)))

    return refresh, [from_gallery, base, table]
