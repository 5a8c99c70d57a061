"""The app context: settings, model manager, history store and job runner, built once."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from webui.config import Settings
from webui.history.db import open_database
from webui.history.store import HistoryStore
from webui.jobs import JobRunner
from webui.models.manager import ModelManager
from webui.models.registry import HashCache, ModelRegistry

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """Everything a request handler needs; passed down, never imported as a global."""

    settings: Settings
    manager: ModelManager
    store: HistoryStore
    jobs: JobRunner


def create_context(settings: Settings) -> AppContext:
    """Create folders, open (and migrate) the database, set up the manager. Loads no model."""
    settings.outputs_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("Stable-diffusion", "Lora", "VAE"):
        (settings.models_dir / sub).mkdir(parents=True, exist_ok=True)
    engine = open_database(settings.db_url)
    registry = ModelRegistry(settings.checkpoints_dir, settings.models_dir / "Lora",
                             settings.models_dir / "VAE",
                             HashCache(settings.data_dir / "model_hashes.json"))
    manager = ModelManager(registry, settings.device, settings.dtype,
                           default_checkpoint=settings.ckpt, cache=settings.ckpt_cache,
                           offload=settings.offload)
    store = HistoryStore(engine, settings.outputs_dir)
    store.reconcile()  # finish writes/deletes a crash left half-done (webui.history.store)
    return AppContext(settings, manager, store, JobRunner(manager, store, settings.limits))


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

    demo = build_app(ctx)
    demo.queue(default_concurrency_limit=1)
    app = gr.mount_gradio_app(app, demo, path="/", server_name=s.host,
                              server_port=s.port,
                              allowed_paths=[str(s.outputs_dir.resolve())], show_error=True)
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

    def run(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C)."""
        log.info("Running on %s", self.local_url)
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
        return self

    def close(self) -> None:
        """Stop serving and wait for the server thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)


def serve(ctx: AppContext, block: bool = True, port: int | None = None) -> Server:
    """Serve the app on ``settings.host``; ``block=False`` returns the running ``Server`` at
    once (tests), whose ``local_url`` and ``close()`` the caller uses."""
    app, demo = build_server(ctx)
    server = Server(app, demo, ctx.settings.host, port or ctx.settings.port)
    if not block:
        return server.start()
    server.run()
    return server
