"""The one FastAPI app served on one port: the API routes (``--api``), the Gradio UI mounted at
``/`` (unless ``--nowebui``) and the middlewares in front of it."""

from __future__ import annotations

import functools

from webui.app import AppContext


def build_server(ctx: AppContext):
    """The FastAPI app for ``ctx``: the API routes with ``--api`` (OpenAPI docs at ``/docs``),
    and the Gradio UI mounted at ``/`` unless ``--nowebui``.

    Returns ``(app, demo)``; ``demo`` (the Gradio Blocks) is None without the UI.
    """
    from fastapi import FastAPI
    from fastapi.responses import RedirectResponse

    from webui import __version__

    s = ctx.settings
    api = s.api_enabled
    app = FastAPI(title="SDXL WebUI API", version=__version__,
                  description="AUTOMATIC1111 /sdapi/v1 and Stability REST v1 on this server.",
                  docs_url="/docs" if api else None, redoc_url=None,
                  openapi_url="/openapi.json" if api else None)
    if api:
        from webui.api import install_api

        install_api(app, ctx)
    mount_extension_routes(app, ctx, api)
    if s.nowebui:
        app.add_api_route("/", lambda: RedirectResponse("/docs"), include_in_schema=False)
        return app, None
    import gradio as gr

    from webui.server.middleware import (FileGuardMiddleware, LoginPageGuard,
                                         VisitorCookieMiddleware, visitor_of)
    from webui.ui.layout import build_ui
    from webui.ui.page import PAGE_CSS, PAGE_JS

    demo = build_ui(ctx)
    demo.queue(default_concurrency_limit=1, max_size=s.max_queue)
    login = {}
    if ctx.users.enabled:
        login = dict(auth=ctx.users.check,
                     auth_message="Log in with the user name and password you were given.")
    elif s.demo:  # each browser is its own private visitor
        login = dict(auth_dependency=visitor_of)
    app = gr.mount_gradio_app(app, demo, path="/", server_name=s.host,
                              server_port=s.port,
                              allowed_paths=[str(s.outputs_dir.resolve())], show_error=True,
                              css=PAGE_CSS, js=PAGE_JS, **login)
    app.add_middleware(FileGuardMiddleware, ctx=ctx,
                       gradio_app_getter=functools.partial(gradio_app_of, app))
    if ctx.users.enabled:
        app.add_middleware(LoginPageGuard)
    if s.demo and not ctx.users.enabled:
        app.add_middleware(VisitorCookieMiddleware)
    return app, demo


def mount_extension_routes(app, ctx: AppContext, api_installed: bool) -> None:
    """Each extension's router at ``/ext/<name>/``, behind the API's credentials (the logins
    when logins are on); listed in the OpenAPI schema with ``--api``."""
    routers = ctx.extensions.routers()
    for router in routers:
        app.include_router(router)
    if routers and not api_installed:
        from webui.api import install_api_auth

        install_api_auth(app, ctx)


def gradio_app_of(app):
    """The Gradio app mounted in a FastAPI ``app`` (None without the UI)."""
    from gradio.routes import App

    for route in getattr(app, "routes", []):
        inner = getattr(route, "app", None)
        if isinstance(inner, App):
            return inner
    return None
