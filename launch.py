"""Start the SDXL web UI: ``python launch.py --help`` lists the flags."""

from __future__ import annotations

import logging
import sys


def main(argv: list[str] | None = None) -> None:
    from webui.config import parse_settings

    settings = parse_settings(argv)
    from webui.server.console import setup_console

    setup_console(logging.INFO)
    from webui.app import create_context
    from webui.server.uvicorn_server import serve

    ctx = create_context(settings)  # loads no model: models load on first use
    try:
        serve(ctx)
    finally:
        ctx.jobs.backend.close()  # Ray workers (--backend ray) go down with the app
    # served and shut down: the interpreter's last garbage collection over every object of
    # torch, diffusers and gradio would keep a stopped app around for seconds; skip it
    import gc

    gc.freeze()


if __name__ == "__main__":
    main(sys.argv[1:])
