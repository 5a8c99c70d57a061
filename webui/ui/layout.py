"""The whole Gradio app: one tab per mode, plus History."""

from __future__ import annotations

import gradio as gr

from webui.ui.history import build_history_tab
from webui.ui.models_tab import build_models_tab
from webui.ui.txt2img import build_txt2img_tab


def build_ui(ctx) -> gr.Blocks:
    """Build the Blocks app for ``ctx``; launching is the caller's job."""
    with gr.Blocks(title="SDXL WebUI") as demo:
        with gr.Tabs():
            with gr.Tab("txt2img", id="txt2img"):
                build_txt2img_tab(ctx)
            with gr.Tab("History", id="history") as history_tab:
                load_history, history_outputs = build_history_tab(ctx)
            with gr.Tab("Models", id="models") as models_tab:
                load_models, models_table = build_models_tab(ctx)
        # hashing a big checkpoint takes a while the first time: only when the tab is opened
        models_tab.select(load_models, None, models_table, api_visibility="private")
        history_tab.select(load_history, None, history_outputs, api_visibility="private")
        demo.load(load_history, None, history_outputs, api_visibility="private")
    return demo
