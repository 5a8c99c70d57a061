"""A server with logins on (UI and API), served for real on loopback, and the list of every
route it has — taken from the apps themselves, so a new route is covered automatically."""

from __future__ import annotations

import contextlib
import re

import httpx
import pytest

from tests.helpers import free_port

PASSWORDS = {"alice": "alice-Pw-7f3k9q", "bob": "bob-Pw-2m8x4z"}
API_KEY = "key-Zq81xXw0v3bT"
SECRETS = [*PASSWORDS.values(), API_KEY]


def walk_routes(routes, prefix: str = ""):
    """(path, methods, kind) of every route under ``routes``: FastAPI routers included with a
    prefix, Starlette mounts (Gradio's app) and plain routes."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:  # FastAPI's included router
            yield from walk_routes(original.routes, prefix + route.include_context.prefix)
            continue
        path = getattr(route, "path", None)
        sub = getattr(route, "routes", None)
        if sub is not None and path is not None and not getattr(route, "methods", None):
            yield from walk_routes(sub, prefix + path)
            continue
        if path is None:
            continue
        yield prefix + path, sorted((getattr(route, "methods", None) or {"GET"}) - {"HEAD"}), \
            type(route).__name__


def concrete(path: str) -> str:
    """A route pattern with its parameters filled in."""
    path = path.replace("{engine_id}", "stable-diffusion-xl-1024-v1-0")
    return re.sub(r"\{[^}]+\}", "x", path) or "/"


@pytest.fixture(scope="module")
def secured(tiny_models_dir, tmp_path_factory):
    """(ctx, server, base URL) of an app with --auth, --api and an API key."""
    from webui.app import create_context
    from webui.config import Settings, check_settings
    from webui.server.uvicorn_server import serve

    root = tmp_path_factory.mktemp("secured")
    settings = check_settings(Settings(
        models_dir=tiny_models_dir, outputs_dir=root / "outputs", data_dir=root / "data",
        device="cpu", api=True, auth=",".join(f"{u}:{p}" for u, p in PASSWORDS.items()),
        admins=("alice",), api_keys=API_KEY))
    ctx = create_context(settings)
    server = serve(ctx, block=False, port=free_port())
    try:
        yield ctx, server, server.local_url.rstrip("/")
    finally:
        server.close()


@contextlib.contextmanager
def login(base: str, user: str):
    """A client logged in through Gradio's login form."""
    with httpx.Client(base_url=base, timeout=120) as client:
        r = client.post("/login", data={"username": user, "password": PASSWORDS[user]})
        assert r.status_code == 200, r.text
        yield client


def probe(client: httpx.Client, method: str, path: str, **kw) -> tuple[int, str, str]:
    """(status, start of the body, headers) without waiting for a stream to end (Gradio's
    heartbeat and queue data routes stream for as long as the page is open)."""
    body = b""
    try:
        with client.stream(method, path, timeout=httpx.Timeout(30, read=3), **kw) as r:
            try:
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > 200_000:
                        break
            except (httpx.ReadTimeout, httpx.RemoteProtocolError):
                pass  # a stream that goes on, or one Gradio ends abruptly (unknown session)
            return r.status_code, body.decode("utf-8", "replace"), str(r.headers)
    except httpx.ReadTimeout:
        return 0, "", ""
