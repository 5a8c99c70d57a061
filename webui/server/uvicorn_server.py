"""Serving the assembled app with uvicorn: ``serve`` (``launch.py``, tests) and ``Server``."""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn

from webui.app import AppContext, startup_warnings
from webui.server.assembly import build_server
from webui.server.share import open_share_link

log = logging.getLogger(__name__)


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses that other machines can reach (loopback and link-local
    169.254.x.x left out), as ``--listen`` users type them into another device's browser."""
    import ipaddress

    import psutil

    found = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family != socket.AF_INET:
                continue
            ip = ipaddress.ip_address(a.address)
            if not (ip.is_loopback or ip.is_link_local) and a.address not in found:
                found.append(a.address)
    return found


def _log_urls(host: str, port: int, local_url: str) -> None:
    """``Running on`` the local URL; when bound to all interfaces, also the LAN URLs."""
    log.info("Running on %s", local_url)
    if host != "0.0.0.0":
        return
    urls = [f"http://{ip}:{port}/" for ip in lan_addresses()]
    if urls:
        log.info("On your network: %s", "  ".join(urls))
    else:
        log.info("On your network: no network address found (is this machine connected?)")


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, calling ``before_shutdown`` as it starts shutting down."""

    def __init__(self, config, before_shutdown):
        super().__init__(config)
        self.before_shutdown = before_shutdown

    async def shutdown(self, sockets=None):
        self.before_shutdown()
        await super().shutdown(sockets=sockets)


class Server:
    """A running server: ``local_url``, ``app``, ``demo`` (None with --nowebui), ``close()``."""

    def __init__(self, app, demo, host: str, port: int, stop_jobs=None):
        self.app, self.demo, self.host, self.port = app, demo, host, port
        self.stop_jobs = stop_jobs  # called as shutdown starts: running jobs end at a step
        shown = "127.0.0.1" if host == "0.0.0.0" else host
        self.local_url = f"http://{shown}:{port}/"
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                timeout_graceful_shutdown=5)
        self._server = _Uvicorn(config, before_shutdown=self._end_page_streams)
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

    def _end_page_streams(self) -> None:
        """Stop the running jobs and close the event streams every open tab holds (Gradio's
        heartbeat and queue streams), so shutdown does not wait for them and cancel them
        with tracebacks (nor the process wait for a job's thread after it)."""
        if self.stop_jobs is not None and (n := self.stop_jobs()):
            log.info("Stopping %d job(s) at their next step", n)
        if self.demo is None:
            return
        from webui.server.assembly import gradio_app_of

        self.demo._queue.close()  # queue streams send "server stopped" and end
        self.demo.is_running = False
        gradio_app = gradio_app_of(self.app)
        if gradio_app is not None:
            gradio_app.stop_event.set()  # heartbeat streams end

    def run(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C), which ends it quietly."""
        _log_urls(self.host, self.port, self.local_url)
        self._after_start()
        try:
            self._server.run()
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled
            pass
        log.info("Stopped.")

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
        _log_urls(self.host, self.port, self.local_url)
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
    server = Server(app, demo, ctx.settings.host, port or ctx.settings.port,
                    stop_jobs=ctx.jobs.stop_all)
    if ctx.settings.share and demo is not None:
        def share() -> None:
            server.share_url = open_share_link(server.port)

        server.on_start = share
    if not block:
        return server.start()
    server.run()
    return server
