"""With logins on, every route refuses an anonymous caller, and no answer shows a secret."""

from __future__ import annotations

import httpx
import pytest

from tests.security.conftest import (API_KEY, PASSWORDS, SECRETS, concrete, login, probe,
                                     walk_routes)
from webui.server.assembly import gradio_app_of

#: routes Gradio serves before login: the login page itself and its static pieces
PUBLIC = {"/", "/login", "/login/", "/logout", "/favicon.ico", "/theme.css", "/robots.txt",
          "/manifest.json", "/pwa_icon", "/pwa_icon/x", "/svelte/x", "/static/x",
          "/assets/x", "/gradio_api/token", "/gradio_api/token/", "/gradio_api/app_id",
          "/gradio_api/app_id/", "/gradio_api/login_check", "/gradio_api/login_check/",
          "/token", "/token/", "/app_id", "/app_id/", "/login_check", "/login_check/",
          "/gradio_api/startup-events", "/startup-events", "/gradio_api/heartbeat/x",
          "/heartbeat/x", "/gradio_api/theme.css", "/gradio_api/reset", "/gradio_api/reset/",
          "/reset", "/reset/", "/gradio_api/upload_progress", "/upload_progress",
          "/gradio_api/stream/x/x/x/playlist.m3u8", "/gradio_api/stream/x/x/x/x.x",
          "/gradio_api/stream/x/x/x/playlist-file", "/stream/x/x/x/playlist.m3u8",
          "/stream/x/x/x/x.x", "/stream/x/x/x/playlist-file", "/gradio_api/stream/x",
          "/gradio_api/stream/x/close", "/stream/x", "/stream/x/close", "/monitoring/x",
          "/gradio_api/runs", "/gradio_api/runs/", "/gradio_api/user", "/gradio_api/user/",
          "/runs", "/runs/", "/user", "/user/"}
#: what only a logged-in user may see: the app's own components and models
APP_MARKERS = ["txt2img_prompt", "tiny-sdxl", "txt2img_generate", "Sampling method"]


def all_routes(server):
    routes = list(walk_routes(server.app.routes))
    gapp = gradio_app_of(server.app)
    routes += list(walk_routes(gapp.routes))
    return sorted({(concrete(p), tuple(m)) for p, m, _ in routes})


def test_route_list_covers_the_apis_and_gradio(secured):
    _, server, _ = secured
    paths = {p for p, _ in all_routes(server)}
    assert {"/sdapi/v1/txt2img", "/sdapi/v1/cmd-flags", "/sdapi/v1/options",
            "/v1/engines/list", "/gradio_api/queue/join", "/gradio_api/upload", "/config",
            "/gradio_api/file=x", "/gradio_api/info"} <= paths
    assert len(paths) > 60


def test_every_route_refuses_anonymous_requests(secured):
    _, server, base = secured
    leaks = []
    with httpx.Client(base_url=base, timeout=60) as anon:
        for path, methods in all_routes(server):
            for method in methods:
                status, body, _ = probe(anon, method, path,
                                        json={} if method == "POST" else None)
                shown = [m for m in APP_MARKERS if m in body]
                if path.startswith(("/sdapi/", "/v1/", "/docs", "/openapi.json")):
                    ok = status == 401
                elif path in PUBLIC:
                    ok = status < 500 and not shown
                else:
                    ok = status in (401, 403, 404, 405, 422) and not shown
                if not ok:
                    leaks.append(f"{method} {path} -> {status} {body[:120]!r}")
    assert not leaks, "\n".join(leaks)


def test_the_ui_page_shows_a_login_form_not_the_app(secured):
    _, _, base = secured
    r = httpx.get(base + "/", timeout=30)
    assert r.status_code == 200
    assert not any(m in r.text for m in APP_MARKERS)
    assert httpx.get(base + "/config", timeout=30).status_code == 401
    with login(base, "alice") as alice:
        config = alice.get("/config")
        assert config.status_code == 200 and "txt2img_prompt" in config.text


def test_wrong_password_and_wrong_key_are_refused(secured):
    _, _, base = secured
    with httpx.Client(base_url=base, timeout=30) as c:
        r = c.post("/login", data={"username": "alice", "password": PASSWORDS["bob"]})
        assert r.status_code in (400, 401) and "Incorrect credentials" in r.text
        assert c.get("/config").status_code == 401
        r = c.get("/sdapi/v1/options", headers={"Authorization": "Bearer wrong-key-123456"})
        assert r.status_code == 401 and "not accepted" in r.json()["detail"]
        r = c.get("/sdapi/v1/options", auth=("alice", "nope"))
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Basic")
        r = c.get("/v1/engines/list")
        assert r.status_code == 401 and r.json()["name"] == "unauthorized"


def test_api_accepts_basic_logins_and_bearer_keys(secured):
    _, _, base = secured
    with httpx.Client(base_url=base, timeout=30) as c:
        assert c.get("/sdapi/v1/samplers", auth=("bob", PASSWORDS["bob"])).status_code == 200
        r = c.get("/sdapi/v1/sd-models", headers={"Authorization": f"Bearer {API_KEY}"})
        assert r.status_code == 200 and r.json()
        assert c.get("/docs", auth=("alice", PASSWORDS["alice"])).status_code == 200


def test_no_response_contains_a_secret(secured):
    _, server, base = secured
    found = []
    with login(base, "alice") as ui, httpx.Client(base_url=base, timeout=60,
                                                   auth=("alice", PASSWORDS["alice"])) as api:
        for path, methods in all_routes(server):
            if "GET" not in methods or "file" in path:
                continue
            client = api if path.startswith(("/sdapi/", "/v1/", "/docs", "/openapi")) else ui
            _, text, headers = probe(client, "GET", path)
            for secret in SECRETS:
                if secret in text or secret in headers:
                    found.append(f"GET {path} shows a secret")
        flags = api.get("/sdapi/v1/cmd-flags")
        assert flags.status_code == 200
        assert flags.json()["auth"] == "***" and flags.json()["api_keys"] == "***"
        found += [f"cmd-flags shows {s}" for s in SECRETS if s in flags.text]
        found += [f"options shows {s}" for s in SECRETS
                  if s in api.get("/sdapi/v1/options").text]
    assert not found, found


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_logged_in_user_reaches_the_app(secured, user):
    _, _, base = secured
    with login(base, user) as c:
        assert c.get("/gradio_api/info").status_code == 200
