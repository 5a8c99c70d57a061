"""The app context: settings, model manager, history store and job runner, built once."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from webui.api.security import ApiCredentials
from webui.auth import Users, load_users
from webui.config import Settings, parse_size
from webui.history.db import open_database
from webui.history.model_hashes import DbHashCache
from webui.history.store import HistoryStore
from webui.jobs import JobRunner
from webui.models.manager import ModelManager
from webui.models.registry import ModelRegistry
from webui.prompting.styles import StyleLibrary
from webui.ratelimit import RateLimiter
from webui.user_settings import SettingsStore

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """Everything a request handler needs; passed down, never imported as a global."""

    settings: Settings
    manager: ModelManager
    store: HistoryStore
    jobs: JobRunner  # the one run path (rate limit of demo visitors included)
    users: Users  # browser logins (empty: no login)
    user_settings: SettingsStore  # the Settings tab's <data-dir>/settings.json
    api_credentials: ApiCredentials  # API logins and keys (empty: open API)
    rate_limiter: RateLimiter | None  # per demo visitor
    styles: StyleLibrary  # <data-dir>/styles.csv


def spaces_gpu_wrapper():
    """``spaces.GPU`` when the ``spaces`` package (Hugging Face Spaces) is importable."""
    try:
        import spaces  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - not on a Space: nothing special
        return None
    gpu = getattr(spaces, "GPU", None)
    if gpu is None:
        return None
    log.info("spaces package found: generation runs inside spaces.GPU")
    return lambda fn: functools.wraps(fn)(gpu(fn))


def create_context(settings: Settings) -> AppContext:
    """Create folders, open (and migrate) the database, set up the manager. Loads no model."""
    settings.outputs_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("Stable-diffusion", "Lora", "VAE"):
        (settings.models_dir / sub).mkdir(parents=True, exist_ok=True)
    engine = open_database(settings.db_url)
    registry = ModelRegistry(settings.checkpoints_dir, settings.models_dir / "Lora",
                             settings.models_dir / "VAE",
                             DbHashCache(engine))
    manager = ModelManager(registry, settings.device, settings.dtype,
                           default_checkpoint=settings.ckpt, cache=settings.ckpt_cache,
                           offload=settings.offload,
                           device_budget=parse_size(settings.vram_budget, "--vram-budget"),
                           compile=settings.compile, fuse_qkv=settings.fuse_qkv)
    if not settings.login_enabled:
        settings.admins = ()
    users = load_users(settings.auth, settings.auth_file, ",".join(settings.admins) or None)
    settings.admins = tuple(sorted(users.admins))
    user_settings = SettingsStore(settings.data_dir / "settings.json")
    store = HistoryStore(engine, settings.outputs_dir, user_settings=user_settings)
    store.reconcile()  # finish writes/deletes a crash left half-done (webui.history.store)
    # the user-editable styles file lives in the data folder (seeded with the SDXL presets)
    styles = StyleLibrary.in_data_dir(settings.data_dir)
    limiter = RateLimiter(settings.demo_rate) if settings.demo else None
    jobs = JobRunner(manager, store, settings.limits, max_queue=settings.max_queue,
                     device_wrapper=spaces_gpu_wrapper(), styles=styles, rate_limiter=limiter)
    return AppContext(settings, manager, store, jobs, users=users, user_settings=user_settings,
                      api_credentials=ApiCredentials.from_settings(settings),
                      rate_limiter=limiter, styles=styles)


def startup_warnings(settings: Settings) -> list[str]:
    """What the person starting a shared server must know (printed loudly at start)."""
    out = []
    if settings.listen and not settings.login_enabled and not settings.demo:
        out.append("The app listens on all interfaces (--listen) WITHOUT A LOGIN: anyone who "
                   "can reach this machine can generate, see every image and change settings. "
                   "Add --auth user:pass (or --auth-file) to require a login.")
    if settings.share and not settings.login_enabled and not settings.demo:
        out.append("--share makes a PUBLIC link WITHOUT A LOGIN: add --auth user:pass.")
    if settings.api_enabled and settings.insecure and not settings.api_credentials:
        out.append("The API is served without credentials (--insecure).")
    return out


def build_app(ctx: AppContext):
    """The Gradio Blocks app for ``ctx``."""
    from webui.ui.layout import build_ui

    return build_ui(ctx)


def build_server(ctx: AppContext):
    """The FastAPI app served on one port: the API routes with ``--api`` (OpenAPI docs at
    ``/docs``), and the Gradio UI mounted at ``/`` unless ``--nowebui``.

    Returns ``(app, demo)``; ``demo`` is None without the UI.
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
    if s.nowebui:
        app.add_api_route("/", lambda: RedirectResponse("/docs"), include_in_schema=False)
        return app, None
    import gradio as gr

    from webui.ui.access import (FileGuardMiddleware, LoginPageGuard, VisitorCookieMiddleware,
                                 gradio_app_of, visitor_of)

    demo = build_app(ctx)
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
                              **login)
    app.add_middleware(FileGuardMiddleware, ctx=ctx,
                       gradio_app_getter=functools.partial(gradio_app_of, app))
    if ctx.users.enabled:
        app.add_middleware(LoginPageGuard)
    if s.demo and not ctx.users.enabled:
        app.add_middleware(VisitorCookieMiddleware)
    return app, demo


class Server:
    """A running server: ``local_url``, ``app``, ``demo`` (None with --nowebui), ``close()``."""

    def __init__(self, app, demo, host: str, port: int):
        import uvicorn

        self.app, self.demo, self.host, self.port = app, demo, host, port
        shown = "127.0.0.1" if host == "0.0.0.0" else host
        self.local_url = f"http://{shown}:{port}/"
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = None
        self.share_url: str | None = None
        self.on_start = None  # called once serving (e.g. to open a share link)

    def _after_start(self) -> None:
        import threading
        import time

        def wait_then_call():
            while not self._server.started and not self._server.should_exit:
                time.sleep(0.1)
            if self._server.started and self.on_start is not None:
                self.on_start()

        if self.on_start is not None:
            threading.Thread(target=wait_then_call, name="webui-on-start", daemon=True).start()

    def run(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C)."""
        log.info("Running on %s", self.local_url)
        self._after_start()
        self._server.run()

    def start(self, timeout: float = 60.0) -> "Server":
        """Serve in a background thread; return once it accepts connections."""
        import threading
        import time

        self._thread = threading.Thread(target=self._server.run, name="webui-server",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise OSError(f"cannot serve on {self.host}:{self.port} (port in use?)")
            if time.monotonic() > deadline:
                self.close()
                raise TimeoutError(f"server did not start in {timeout:g} s")
            time.sleep(0.05)
        log.info("Running on %s", self.local_url)
        if self.on_start is not None:
            self.on_start()
        return self

    def close(self) -> None:
        """Stop serving and wait for the server thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)


def serve(ctx: AppContext, block: bool = True, port: int | None = None) -> Server:
    """Serve the app on ``settings.host``; ``block=False`` returns the running ``Server`` at
    once (tests), whose ``local_url`` and ``close()`` the caller uses."""
    for warning in startup_warnings(ctx.settings):
        bar = "!" * 78
        log.warning("\n%s\n!! %s\n%s", bar, warning, bar)
    app, demo = build_server(ctx)
    server = Server(app, demo, ctx.settings.host, port or ctx.settings.port)
    if ctx.settings.share and demo is not None:
        server.share_url = None
        server.on_start = lambda: _share(server)
    if not block:
        return server.start()
    server.run()
    return server


def _share(server: "Server") -> None:
    """Ask Gradio's share server for a public link (as ``launch(share=True)`` does)."""
    import secrets

    try:
        from gradio import networking

        url = networking.setup_tunnel("127.0.0.1", server.port, secrets.token_urlsafe(32),
                                      None, None)
        server.share_url = url
        log.warning("Public share link: %s (anyone with it can use this app)", url)
    except Exception as exc:  # noqa: BLE001 - offline, blocked, or frpc missing
        log.error("could not create a share link: %s", exc)
