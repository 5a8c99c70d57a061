"""Start the SDXL web UI: ``python launch.py --help`` lists the flags."""

from __future__ import annotations

import logging
import sys


def main(argv: list[str] | None = None) -> None:
    from webui.config import parse_settings

    settings = parse_settings(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from webui.app import build_app, create_context

    ctx = create_context(settings)
    demo = build_app(ctx)
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        allowed_paths=[str(settings.outputs_dir.resolve())],
        show_error=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
