"""The page header's account line (logins only): "Logged in as <name>" and a Log out button."""

from __future__ import annotations

import re

import gradio as gr

from webui.caller import resolve_caller

#: Gradio's own route (``gradio.routes``): ends the user's sessions and returns to the login
#: page. Relative, so it also works when the app is served under a path prefix.
LOGOUT_URL = "logout"


def account_bar(ctx, demo: gr.Blocks) -> None:
    """A small header row with who is logged in (and whether an admin) and Log out; nothing
    when the app has no logins."""
    if not ctx.users.enabled:
        return
    with gr.Row(elem_id="account_bar", equal_height=True):
        whoami = gr.Markdown(elem_id="logged_in_as")
        gr.Button("Log out", link=LOGOUT_URL, size="sm", scale=0, min_width=90,
                  elem_id="logout_button")

    def logged_in_as(request: gr.Request = None) -> str:
        who = resolve_caller(ctx, request)
        if who.is_anonymous:
            return "Not logged in."
        name = re.sub(r"([\\`*_{}\[\]()#+\-.!<>|~])", r"\\\1", who.owner)
        return f"Logged in as **{name}**" + (" · admin" if who.is_admin else "")

    demo.load(logged_in_as, None, whoami, api_visibility="private", queue=False)
