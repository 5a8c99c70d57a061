"""The History tab: saved images, newest first, with their parameters."""

from __future__ import annotations

import gradio as gr

PAGE = 60


def build_history_tab(ctx):
    """A gallery of recorded generations that survives restarts (it reads the database)."""
    store = ctx.store

    def load():
        rows = store.recent(limit=PAGE)
        items = [(str(store.image_path(r)), (r.prompt or "")[:80]) for r in rows
                 if store.image_path(r).exists()]
        return items, [r.id for r in rows if store.image_path(r).exists()], \
            f"{store.count()} image(s) in history"

    with gr.Row():
        refresh = gr.Button("Refresh", scale=0, min_width=100)
        summary = gr.Markdown()
    gallery = gr.Gallery(label="History", columns=6, height=600, elem_id="history_gallery",
                         allow_preview=True)
    details = gr.Textbox(label="Parameters", lines=4, interactive=False, elem_id="history_info")
    ids = gr.State([])

    def select(row_ids, evt: gr.SelectData):
        if evt.index is None or evt.index >= len(row_ids):
            return ""
        row = store.get(row_ids[evt.index])
        return "" if row is None else f"{row.infotext}\n\n{row.created_at:%Y-%m-%d %H:%M:%S} · " \
            f"{row.mode} · {row.duration:.1f}s · {row.image_path}"

    refresh.click(load, None, [gallery, ids, summary], api_visibility="private")
    gallery.select(select, ids, details, api_visibility="private")
    return load, [gallery, ids, summary]
