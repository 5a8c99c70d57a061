"""The Extensions tab: every extension found, its version and state (the error that switched
it off), and the switch that enables or disables it at the next start (admins only when
logins are on; not in the hosted demo). Also builds the tabs extensions add."""

from __future__ import annotations

import logging

import gradio as gr

from webui.errors import RequestError
from webui.caller import resolve_caller
from webui.ui.access import ADMIN_ONLY, refusal

log = logging.getLogger(__name__)

HEADERS = ["Extension", "Version", "State", "Enabled (next start)", "Scripts", "Error",
           "Where"]


def extension_rows(ctx) -> list[list]:
    return [[s.name, s.version, s.state, "yes" if s.enabled else "no", ", ".join(s.scripts),
             s.error, s.path] for s in ctx.extensions.statuses.values()]


def build_extensions_tab(ctx):
    """The table and the switch; returns the refresh function (run when the tab opens)."""
    gr.Markdown(
        "Extensions run inside this app with its rights: install only extensions whose code "
        "you trust. One that fails to load, raises in a hook or takes too long is switched "
        "off until the next start and says why here. Enable or disable takes effect at the "
        "next start.")
    # filled when the tab opens, for those who may see it (admins when logins are on)
    table = gr.Dataframe(headers=HEADERS, value=None, interactive=False, wrap=True,
                         elem_id="extensions_table")
    names = list(ctx.extensions.statuses)
    with gr.Row():
        which = gr.Dropdown(names, value=names[0] if names else None, label="Extension",
                            elem_id="extensions_name")
        enable = gr.Button("Enable at next start", elem_id="extensions_enable")
        disable = gr.Button("Disable at next start", elem_id="extensions_disable")
    note = gr.Markdown(elem_id="extensions_note")

    def switch(name, on: bool, request: gr.Request):
        why = refusal(ctx, request)
        if why:
            raise gr.Error(why, print_exception=False)
        try:
            ctx.extensions.set_enabled(name, on)
        except RequestError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return extension_rows(ctx), (f"**{name}** will be {'enabled' if on else 'disabled'} "
                                     "at the next start.")

    def do_enable(name, request: gr.Request):
        return switch(name, True, request)

    def do_disable(name, request: gr.Request):
        return switch(name, False, request)

    enable.click(do_enable, which, [table, note], api_name="extension_enable")
    disable.click(do_disable, which, [table, note], api_name="extension_disable")
    def load(request: gr.Request):
        who = resolve_caller(ctx, request)
        if ctx.users.enabled and not who.is_admin:
            return gr.update(value=[[ "", "", "", "", "", ADMIN_ONLY, ""]])
        return extension_rows(ctx)

    return load, table


def build_extension_tabs(ctx) -> None:
    """The tabs extensions added; one that fails to build shows its error instead."""
    for name, title, build in ctx.extensions.tabs():
        with gr.Tab(title, id=f"ext-{name}-{title}"):
            try:
                build()
            except Exception as exc:  # noqa: BLE001 - a broken tab never breaks the page
                log.exception("extension %s: tab %r failed to build", name, title)
                gr.Markdown(f"**Extension {name!r} could not build this tab:** "
                            f"{type(exc).__name__}: {exc}")
