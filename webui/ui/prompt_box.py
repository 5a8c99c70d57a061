"""Prompt and negative prompt boxes with A1111's token counter, and the style picker."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from webui.models.lora import strip_lora_tags
from webui.prompting.chunks import token_count
from webui.prompting.styles import StyleLibrary


def counter_text(text: str | None) -> str:
    """``"12/75"``; past 75 tokens the next chunk boundary shows: ``"80/150"``. ``<lora:…>``
    tags are not counted: the text encoders never see them."""
    used, limit = token_count(strip_lora_tags(text or ""))
    return f"{used}/{limit}"


@dataclass
class PromptBox:
    prompt: gr.Textbox
    negative: gr.Textbox
    styles: gr.Dropdown


def prompt_box(tab: str, styles_file: StyleLibrary,
               placeholder: str = "a photo of a cat") -> PromptBox:
    """Prompt, negative prompt (each with its token counter) and the styles dropdown."""
    prompt = gr.Textbox(label="Prompt", lines=3, placeholder=placeholder,
                        elem_id=f"{tab}_prompt")
    prompt_count = gr.Markdown("0/75", elem_id=f"{tab}_token_counter")
    negative = gr.Textbox(label="Negative prompt", lines=2, elem_id=f"{tab}_negative_prompt")
    negative_count = gr.Markdown("0/75", elem_id=f"{tab}_negative_token_counter")
    styles = gr.Dropdown(styles_file.names(), value=[], multiselect=True, label="Styles",
                         elem_id=f"{tab}_styles")
    for box, count in ((prompt, prompt_count), (negative, negative_count)):
        box.change(counter_text, box, count, api_visibility="private", queue=False,
                   show_progress="hidden")
    return PromptBox(prompt, negative, styles)
