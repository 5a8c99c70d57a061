"""Serving the assembled app with uvicorn: ``serve`` (``launch.py``, tests) and ``Server``."""

from __future__ import annotations

import logging
import threading
import time

from webui.app import AppContext, startup_warnings
from webui.server.assembly import build_server
from webui.server.share import open_share_link

log = logging.getLogger(__name__)


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
    if ctx.users.enabled:  # who is admin is said, never guessed (no implicit first user)
        log.info("%s", ctx.users.summary())
    app, demo = build_server(ctx)
    server = Server(app, demo, ctx.settings.host, port or ctx.settings.port)
    if ctx.settings.share and demo is not None:
        def share() -> None:
            server.share_url = open_share_link(server.port)

        server.on_start = share
    if not block:
        return server.start()
    server.run()
    return server
