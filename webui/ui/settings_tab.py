"""The Settings tab: defaults for new jobs and how images are written, saved to
``<data-dir>/settings.json`` (``ctx.user_settings``). Saving is for admins only when there
are logins, and off in the hosted demo. Below them, the prompt policy panel
(``webui.ui.policy_panel``)."""

from __future__ import annotations

import logging

import gradio as gr

from webui.choices import AUTOMATIC, SAMPLERS, SCHEDULE_TYPES, split_sampler_name
from webui.request import RequestError
from webui.ui.access import refusal
from webui.ui.page import NOTIFY_TOGGLE_JS
from webui.ui.policy_panel import build_policy_panel
from webui.user_settings import TOKENS

log = logging.getLogger(__name__)

NONE = "None"
FORMAT_LABELS = {"PNG": "png", "JPEG": "jpeg", "WebP": "webp"}


def sampler_parts(saved: str) -> tuple[str, str]:
    """A saved default sampler (it may carry its schedule, "DPM++ 2M Karras") as the two
    dropdowns' values."""
    return split_sampler_name(saved) or ("Euler a", AUTOMATIC)


def sampler_setting(sampler: str, schedule: str | None) -> str:
    """The two dropdowns as the one saved name (A1111's combined form when not Automatic)."""
    return sampler if schedule in (None, "", AUTOMATIC) else f"{sampler} {schedule}"


def build_settings_tab(ctx) -> dict:
    """Build the tab; returns its components by name (``load`` refreshes them)."""
    store = ctx.user_settings
    cur = store.current
    manager = ctx.manager
    label_of = {v: k for k, v in FORMAT_LABELS.items()}
    notice = ""
    if ctx.settings.demo:
        notice = "Settings are fixed in this demo."
    elif ctx.users.enabled:
        notice = "Only an admin can save settings."
    gr.Markdown(notice, elem_id="settings_notice")
    with gr.Row():
        model = gr.Dropdown([NONE] + manager.checkpoint_names(), value=cur.default_model or NONE,
                            label="Default checkpoint", allow_custom_value=True,
                            elem_id="settings_default_model")
        refiner = gr.Dropdown([NONE] + manager.refiner_names(),
                              value=cur.default_refiner or NONE, label="Default refiner",
                              allow_custom_value=True, elem_id="settings_default_refiner")
    limits = ctx.settings.limits  # the same bounds as every request (UserSettings.validate)
    cur_sampler, cur_schedule = sampler_parts(cur.sampler)
    with gr.Row():
        sampler = gr.Dropdown(SAMPLERS, value=cur_sampler, label="Sampling method",
                              elem_id="settings_sampler")
        schedule = gr.Dropdown(list(SCHEDULE_TYPES.values()), value=cur_schedule,
                               label="Schedule type", elem_id="settings_scheduler")
        steps = gr.Slider(1, limits.max_steps, value=min(cur.steps, limits.max_steps), step=1,
                          label="Sampling steps", elem_id="settings_steps")
        cfg = gr.Slider(0, limits.max_cfg, value=min(cur.cfg_scale, limits.max_cfg), step=0.5,
                        label="CFG Scale", elem_id="settings_cfg_scale")
    fit = lambda v: min(max(int(v), limits.min_size), limits.max_size)  # noqa: E731

    def native(model: str | None = None) -> int:
        """The size shown while none is saved: the default checkpoint's native square."""
        model = model or store.current.default_model or ctx.checkpoint.current()
        return fit(manager.native_size(model))

    with gr.Row():
        size_info = "not saved yet: the default checkpoint's native size"
        width = gr.Slider(limits.min_size, limits.max_size, value=fit(cur.width or native()),
                          step=8, label="Width", info=size_info, elem_id="settings_width")
        height = gr.Slider(limits.min_size, limits.max_size,
                           value=fit(cur.height or native()), step=8, label="Height",
                           info=size_info, elem_id="settings_height")
    with gr.Row():
        fmt = gr.Radio(list(FORMAT_LABELS), value=label_of.get(cur.output_format, "PNG"),
                       label="Output format (parameters kept: PNG text chunk, EXIF "
                             "UserComment in JPEG/WebP)", elem_id="settings_output_format")
        pattern = gr.Textbox(cur.filename_pattern, label="File name pattern (after the "
                             "5-digit number)", info="tokens: " + " ".join(sorted(TOKENS)),
                             elem_id="settings_filename_pattern")
        preview = gr.Slider(0, limits.max_steps,
                            value=min(cur.live_preview_every, limits.max_steps), step=1,
                            label="Live preview every N steps (0 = off)",
                            elem_id="settings_live_preview")
    save = gr.Button("Save settings", variant="primary", elem_id="settings_save",
                     interactive=not ctx.settings.demo)
    status = gr.Markdown(elem_id="settings_status")
    # kept in this browser (localStorage), not in settings.json: it is each person's choice,
    # saved at once and open to everyone, whoever may save the settings above
    notify = gr.Checkbox(False, label="Browser notification when a job finishes (this "
                         "browser only, saved at once; shown while the page is not in front)",
                         elem_id="settings_notify")
    notify.input(None, notify, None, js=NOTIFY_TOGGLE_JS, api_visibility="private",
                 queue=False)
    build_policy_panel(ctx)  # "Prompt policy": check a prompt; admins edit it, see its log

    def on_save(model_v, refiner_v, sampler_v, schedule_v, steps_v, cfg_v, w, h, fmt_v,
                pattern_v, preview_v, request: gr.Request = None):
        why = refusal(ctx, request)
        if why:
            raise gr.Error(why, print_exception=False)
        # the native size shown for an unsaved size stays unsaved (it follows the
        # checkpoint) unless changed: saving the output format must not pin 1024 px
        unsaved = native(None if model_v in (None, "", NONE) else model_v)
        keep = lambda v, saved: None if saved is None and int(v) == unsaved else int(v)  # noqa: E731
        try:
            new = store.save(
                default_model=None if model_v in (None, "", NONE) else model_v,
                default_refiner=None if refiner_v in (None, "", NONE) else refiner_v,
                sampler=sampler_setting(sampler_v, schedule_v), steps=int(steps_v),
                cfg_scale=float(cfg_v),
                width=keep(w, store.current.width), height=keep(h, store.current.height),
                output_format=FORMAT_LABELS.get(fmt_v, fmt_v),
                filename_pattern=(pattern_v or "").strip() or "[seed]",
                live_preview_every=int(preview_v))
        except RequestError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        log.info("settings saved")
        return f"Saved. New images: {new.output_format.upper()}, named " \
               f"`NNNNN-{new.filename_pattern}`."

    def follow_default_model(model_v, w, h):
        """An unsaved size shows the newly picked default checkpoint's native size."""
        size = native(None if model_v in (None, "", NONE) else model_v)
        c = store.current
        return (w if c.width is not None else size), (h if c.height is not None else size)

    model.input(follow_default_model, [model, width, height], [width, height],
                api_visibility="private", queue=False)

    fields = [model, refiner, sampler, schedule, steps, cfg, width, height, fmt, pattern,
              preview]
    save.click(on_save, fields, status, api_visibility="private")

    def load():
        c = store.current
        return (c.default_model or NONE, c.default_refiner or NONE, *sampler_parts(c.sampler),
                c.steps, c.cfg_scale, c.width or native(), c.height or native(), label_of.get(c.output_format, "PNG"),
                c.filename_pattern, c.live_preview_every)

    return {"fields": fields, "load": load, "save": save, "status": status, "notify": notify}
