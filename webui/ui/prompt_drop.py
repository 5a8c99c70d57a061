"""Dropping an image onto a tab's prompt box reads its generation parameters into that tab,
as A1111 does: the PNG Info readers (any tool's metadata), then Send-to's rules (sampler
names mapped, styles taken out, values the tab cannot take skipped with a notice). The
image itself is not used; only its parameters are."""

from __future__ import annotations

import json

import gradio as gr

from webui.ui.pnginfo import png_info
from webui.ui.sendto import field_updates, fit_fields, show_notices


def drop_js(tabs) -> str:
    """Page JS: a file dropped on ``<tab>_prompt`` goes to that tab's hidden drop input
    (Gradio uploads it and runs the reader). Installed once, on the document, so it holds
    for boxes Gradio re-renders; text dropped on the box still drops as text."""
    selector = ", ".join(f"#{t}_prompt" for t in tabs)
    return f"""
() => {{
  if (window.__promptDropInstalled) return;
  window.__promptDropInstalled = true;
  const selector = {json.dumps(selector)};
  const boxOf = (e) => (e.target && e.target.closest) ? e.target.closest(selector) : null;
  const hasFiles = (e) => e.dataTransfer && [...(e.dataTransfer.types || [])].includes('Files');
  document.addEventListener('dragover', (e) => {{
    if (boxOf(e) && hasFiles(e)) e.preventDefault();
  }}, true);
  document.addEventListener('drop', (e) => {{
    const box = boxOf(e);
    if (!box || !hasFiles(e) || !e.dataTransfer.files.length) return;
    e.preventDefault();
    e.stopPropagation();
    const tab = box.id.replace(/_prompt$/, '');
    const input = document.querySelector(`#${{tab}}_prompt_drop input[type=file]`);
    if (!input) return;
    const files = new DataTransfer();
    files.items.add(e.dataTransfer.files[0]);
    input.files = files.files;
    input.dispatchEvent(new Event('change', {{bubbles: true}}));
  }}, true);
}}
"""


def wire_prompt_drop(ctx, tab: str, comps: dict) -> None:
    """A hidden file input for ``tab`` (call inside the tab) whose upload fills ``comps``
    (the tab's Send-to fields) from the dropped image's parameters."""
    drop = gr.File(file_types=["image"], type="filepath", visible="hidden",
                   elem_id=f"{tab}_prompt_drop")
    names = tuple(n for n in comps if n != "image")  # parameters only, as in A1111

    def read(path):
        _, _, message, payload = png_info(path, ctx)
        if payload is None:
            gr.Warning(message.replace("**", ""))
            return [*field_updates(None, names), None]
        fields, skipped = fit_fields(payload, {n: comps[n] for n in names})
        show_notices(tab, [*(payload.get("notices") or []), *skipped])
        return [*field_updates(fields, names), None]

    # queued for the warnings; no concurrency limit, so it never waits behind a job
    drop.upload(read, drop, [*(comps[n] for n in names), drop], api_visibility="private",
                concurrency_limit=None, show_progress="hidden")
