"""The app context: settings, model manager, history store and job runner, built once."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from webui.config import Settings
from webui.history.db import open_database
from webui.history.store import HistoryStore
from webui.jobs import JobRunner
from webui.models.manager import ModelManager
from webui.models.registry import CheckpointRegistry

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
    manager = ModelManager(CheckpointRegistry(settings.checkpoints_dir), settings.device,
                           settings.dtype, default_checkpoint=settings.ckpt)
    store = HistoryStore(engine, settings.outputs_dir)
    return AppContext(settings, manager, store, JobRunner(manager, store, settings.limits))


def build_app(ctx: AppContext):
    """The Gradio Blocks app for ``ctx``."""
    from webui.ui.layout import build_ui

    return build_ui(ctx)


def serve(ctx: AppContext, block: bool = True, port: int | None = None):
    """Build and launch the app on ``settings.host``; ``block=False`` returns at once (tests)."""
    demo = build_app(ctx)
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name=ctx.settings.host,
        server_port=port or ctx.settings.port,
        allowed_paths=[str(ctx.settings.outputs_dir.resolve())],
        show_error=True,
        prevent_thread_lock=not block,
        quiet=not block,
    )
    return demo
