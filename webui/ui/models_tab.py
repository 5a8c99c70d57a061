"""The Models tab: every checkpoint, LoRA and VAE on disk with its type, size and hash."""

from __future__ import annotations

import gradio as gr

HEADERS = ["Name", "Folder", "Type", "Format", "Size (MB)", "Hash", "Cached in RAM",
           "Problem"]


def model_rows(ctx, with_hashes: bool = True) -> list[list]:
    """One row per model; hashes are computed once and then come from the cache. A file
    that cannot load (truncated, unreadable, pickle) says why in Problem and gets no hash."""
    manager = ctx.manager
    cached = set(manager.cached_names())
    cached_controls = set(getattr(manager, "cached_control_names", list)())
    rows = []
    for m in manager.registry.scan_all():
        if not with_hashes or m.problem or m.kind == "pickle (refused)":
            h = ""
        elif m.folder == "Lora":
            h = manager.registry.lora_hash(m)
        else:
            h = manager.registry.short_hash(m)
        kind = f"{m.kind} ({m.detail})" if m.detail else m.kind  # e.g. lora (kohya)
        rows.append([m.name, m.folder, kind, m.format, round(m.size_bytes / 2**20, 1), h,
                     "yes" if (m.name in cached and m.folder == "Stable-diffusion") or (
                         m.name in cached_controls and m.folder in ("ControlNet", "ipadapter"))
                     else "",
                     m.problem])
    return rows


def build_models_tab(ctx):
    """A table of models and a Refresh button (dropdowns refresh with their own buttons)."""
    with gr.Row():
        refresh = gr.Button("Refresh", scale=0, min_width=100, elem_id="models_refresh")
        gr.Markdown(f"Models folder: `{ctx.settings.models_dir.resolve()}` "
                    "(`Stable-diffusion/`, `Lora/`, `VAE/`, `ControlNet/`, `ipadapter/`). Types are read from the files' "
                    "tensors, not their names; pickle files (.ckpt/.pt/.bin) are listed but "
                    "never loaded.")
    table = gr.Dataframe(headers=HEADERS, value=None, interactive=False,
                         elem_id="models_table", wrap=True)
    refresh.click(lambda: model_rows(ctx), None, table, api_visibility="private")
    return (lambda: model_rows(ctx)), table
