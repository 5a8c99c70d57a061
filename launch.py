"""Start the SDXL web UI: ``python launch.py --help`` lists the flags."""

from __future__ import annotations

import logging
import sys


def main(argv: list[str] | None = None) -> None:
    from webui.config import parse_settings

    settings = parse_settings(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from webui.app import create_context
    from webui.server.uvicorn_server import serve

    ctx = create_context(settings)  # loads no model: models load on first use
    serve(ctx)


if __name__ == "__main__":
    main(sys.argv[1:])
