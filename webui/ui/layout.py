"""The whole Gradio app: one tab per mode, Train, Extras, then Gallery, PNG Info and Models."""

from __future__ import annotations

import gradio as gr

from webui.ui.account import account_bar
from webui.ui.fieldmap import TabParts
from webui.ui.extensions_tab import build_extension_tabs, build_extensions_tab
from webui.ui.history import build_gallery_tab
from webui.ui.img2img import build_img2img_tab
from webui.ui.inpaint import build_inpaint_tab
from webui.ui.models_tab import build_models_tab
from webui.ui.outpaint import build_outpaint_tab
from webui.ui.page import NOTIFY_LOAD_JS
from webui.ui.pnginfo import build_pnginfo_tab
from webui.ui.prompt_drop import drop_js, wire_prompt_drop
from webui.ui.settings_tab import build_settings_tab
from webui.ui.sendto import wire_sources
from webui.ui.extras_tab import build_extras_tab
from webui.ui.train_tab import build_train_tab
from webui.ui.txt2img import build_txt2img_tab
from webui.ui.widgets import user_defaults, wire_reuse_seed

MODE_TABS = {"txt2img": build_txt2img_tab, "img2img": build_img2img_tab,
             "inpaint": build_inpaint_tab, "outpaint": build_outpaint_tab}


def build_ui(ctx) -> gr.Blocks:
    """Build the Blocks app for ``ctx``; launching is the caller's job."""
    with gr.Blocks(title="SDXL WebUI") as demo:
        account_bar(ctx, demo)  # logins: "Logged in as ...", Log out
        banner = access_banner(ctx)
        if banner:
            gr.Markdown(banner, elem_id="access_banner")
        with gr.Tabs() as tabs:
            built: dict[str, TabParts] = {}
            for mode, build in MODE_TABS.items():
                with gr.Tab(mode, id=mode):
                    built[mode] = build(ctx)
                    wire_reuse_seed(built[mode].controls, built[mode].output)
                    wire_prompt_drop(ctx, mode, built[mode].fields)
            with gr.Tab("Train", id="train") as train_tab:
                train_refresh, train_lists = build_train_tab(ctx)
            with gr.Tab("Extras", id="extras"):
                build_extras_tab(ctx)
            with gr.Tab("Gallery", id="history") as history_tab:
                gallery = build_gallery_tab(ctx)
            with gr.Tab("PNG Info", id="pnginfo"):
                pnginfo_send = build_pnginfo_tab(ctx)
            with gr.Tab("Models", id="models") as models_tab:
                load_models, models_table = build_models_tab(ctx)
            with gr.Tab("Settings", id="settings") as settings_tab:
                user_settings = build_settings_tab(ctx)
            with gr.Tab("Extensions", id="extensions") as extensions_tab:
                load_extensions, extensions_table = build_extensions_tab(ctx)
            build_extension_tabs(ctx)
        sources = [b.send for b in built.values()] + [gallery.send, pnginfo_send]
        wire_sources(tabs, sources, {mode: b.fields for mode, b in built.items()}, ctx)
        # hashing a big checkpoint takes a while the first time: only when the tab is opened
        models_tab.select(load_models, None, models_table, api_visibility="private")
        history_tab.select(gallery.load, None, gallery.outputs, api_visibility="private")
        train_tab.select(train_refresh, None, train_lists, api_visibility="private")
        extensions_tab.select(load_extensions, None, extensions_table,
                              api_visibility="private")
        # each page load shows the Settings tab's current defaults (no restart needed)
        targets = [t for b in built.values() for t in b.controls.default_targets()]
        apply_defaults_on_load(demo, targets, lambda: user_defaults(ctx) * len(built))
        demo.load(gallery.load, None, gallery.outputs, api_visibility="private")
        settings_tab.select(user_settings["load"], None, user_settings["fields"],
                            api_visibility="private")
        demo.load(None, None, user_settings["notify"], js=NOTIFY_LOAD_JS,
                  api_visibility="private", queue=False)
        demo.load(None, None, None, js=drop_js(MODE_TABS), api_visibility="private",
                  queue=False)
    return demo


def apply_defaults_on_load(demo: gr.Blocks, targets: list, defaults) -> None:
    """Set ``targets`` to ``defaults()`` when a page loads, but only the fields the person
    has not changed yet: on a slow server the answer can arrive after they started typing,
    and what they typed wins."""
    import json

    fetched = gr.JSON(visible=False)
    initial = json.dumps([t.value for t in targets])
    keep_edits = f"""(defaults, ...current) => {{
        const initial = {initial};
        if (!Array.isArray(defaults)) return current;
        return current.map((v, i) =>
            JSON.stringify(v) === JSON.stringify(initial[i]) ? defaults[i] : v);
    }}"""
    demo.load(defaults, None, fetched, api_visibility="private", queue=False).then(
        None, [fetched, *targets], targets, js=keep_edits, api_visibility="private",
        queue=False)


def access_banner(ctx) -> str:
    """A line at the top for a hosted demo or an open shared server; "" when local."""
    s = ctx.settings
    if s.demo:
        lim = s.limits
        return (f"**Demo**: up to {lim.max_steps} steps, {lim.max_size}x{lim.max_size}, one "
                f"image per job, {s.demo_rate:g} jobs a minute. Your images are visible to "
                "you only, for this browser session.")
    if s.listen and not ctx.users.enabled:
        return ("**Warning**: this server is open to the network without a login; anyone "
                "who can reach it sees every image.")
    return ""
