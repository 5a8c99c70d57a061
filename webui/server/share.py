"""``--share``: a public link through Gradio's share server (as ``launch(share=True)``)."""

from __future__ import annotations

import logging
import secrets

log = logging.getLogger(__name__)


def open_share_link(port: int) -> str | None:
    """Open a tunnel to ``127.0.0.1:port`` and return its public URL (None when it cannot:
    offline, blocked, or Gradio's ``frpc`` client missing; the error is logged)."""
    try:
        from gradio import networking

        url = networking.setup_tunnel("127.0.0.1", port, secrets.token_urlsafe(32), None, None)
    except Exception as exc:  # noqa: BLE001 - any failure leaves the local server serving
        log.error("could not create a share link: %s", exc)
        return None
    log.warning("Public share link: %s (anyone with it can use this app)", url)
    return url
