"""Logins: plain and hashed passwords, admins, and no password ever echoed."""

from __future__ import annotations

import pytest

from webui.auth import AuthConfigError, hash_password, load_users, verify_password
from webui.ratelimit import RateLimited, RateLimiter


def test_plain_and_hashed_logins(tmp_path):
    hashed = hash_password("s3cret-bob")
    assert "s3cret-bob" not in hashed and hashed.startswith("pbkdf2_sha256$")
    assert verify_password("s3cret-bob", hashed) and not verify_password("nope", hashed)
    f = tmp_path / "users.txt"
    f.write_text(f"# team\nbob:{hashed}\ncarol:plainpw\n")
    users = load_users(auth="alice:pw1", auth_file=f)
    assert users.check("alice", "pw1") and not users.check("alice", "pw2")
    assert users.check("bob", "s3cret-bob") and users.check("carol", "plainpw")
    assert not users.check("mallory", "pw1")
    # no --admins: nobody is an admin (no user is promoted for being listed first)
    assert users.admins == set() and not users.is_admin("bob") and not users.is_admin("alice")
    assert "no admin" in users.summary() and "--admins" in users.summary()
    users = load_users(auth="a:pw-one,b:pw-two", admins="b")
    assert users.admins == {"b"} and users.is_admin("b") and not users.is_admin("a")
    assert "admin(s): b." in users.summary() and "pw-" not in users.summary()


def test_bad_auth_values_never_show_passwords(tmp_path):
    with pytest.raises(AuthConfigError) as err:
        load_users(auth="alice:topsecret,justaname")
    assert "topsecret" not in str(err.value) and "entry 2" in str(err.value)
    with pytest.raises(AuthConfigError, match="cannot read --auth-file"):
        load_users(auth_file=tmp_path / "missing.txt")
    with pytest.raises(AuthConfigError, match="unknown users: zed"):
        load_users(auth="a:1", admins="zed")


def test_no_auth_means_local_admin():
    users = load_users()
    assert not users.enabled and users.is_admin(None)


def test_rate_limiter_per_visitor():
    now = [0.0]
    limiter = RateLimiter(per_minute=6, burst=2, clock=lambda: now[0])
    limiter.take("v1")
    limiter.take("v1")
    with pytest.raises(RateLimited, match="try again in 10 s"):
        limiter.take("v1")
    limiter.take("v2")  # another visitor is not affected
    now[0] += 10.0
    limiter.take("v1")


# -- the API: Basic logins, Bearer keys, own jobs only, queue full, demo limits -------------
import base64  # noqa: E402
import threading  # noqa: E402

import httpx  # noqa: E402

from tests.helpers import small_request  # noqa: E402


def _serve(settings, **changes):
    from tests.helpers import free_port
    from webui.app import create_context
    from webui.config import check_settings
    from webui.server.uvicorn_server import serve

    for k, v in changes.items():
        setattr(settings, k, v)
    ctx = create_context(check_settings(settings))
    return ctx, serve(ctx, block=False, port=free_port())


def test_api_keys_and_logins_each_see_only_their_own_job(settings):
    ctx, server = _serve(settings, api=True, nowebui=True, api_auth="ann:ann-pw-1",
                         api_keys="robot:robot-key-123456")
    base = server.local_url.rstrip("/")
    try:
        started, release = threading.Event(), threading.Event()
        from webui.engine.progress import JobProgress

        held = JobProgress()
        held.listeners.append(lambda p: (started.set(), release.wait(60)))
        ann_job = threading.Thread(target=lambda: ctx.jobs.run(small_request(steps=2),
                                                              owner="ann", progress=held))
        ann_job.start()
        assert started.wait(120)
        robot = {"Authorization": "Bearer robot-key-123456"}
        with httpx.Client(base_url=base, timeout=60) as c:
            assert c.get("/sdapi/v1/progress").status_code == 401
            mine = c.get("/sdapi/v1/progress", auth=("ann", "ann-pw-1")).json()
            assert mine["state"]["sampling_steps"] == 2  # ann sees her own running job
            theirs = c.get("/sdapi/v1/progress", headers=robot).json()
            assert theirs["state"]["job_count"] == 0  # the key's owner sees nothing of it
            c.post("/sdapi/v1/interrupt", headers=robot)
            assert not held.stopped  # and cannot stop it
            c.post("/sdapi/v1/interrupt", auth=("ann", "ann-pw-1"))
            assert held.stopped
        release.set()
        ann_job.join(60)
        flags = httpx.get(base + "/sdapi/v1/cmd-flags", headers=robot, timeout=30).text
        assert "ann-pw-1" not in flags and "robot-key-123456" not in flags
    finally:
        release.set()
        server.close()


def test_queue_full_is_503_with_try_again(settings):
    ctx, server = _serve(settings, api=True, nowebui=True, max_queue=1)
    base = server.local_url.rstrip("/")
    release = threading.Event()
    started = threading.Event()
    from webui.engine.progress import JobProgress

    held = JobProgress()
    held.listeners.append(lambda p: (started.set(), release.wait(60)))
    threads = [threading.Thread(target=lambda: ctx.jobs.run(small_request(), owner="u1",
                                                           progress=held))]
    try:
        threads[0].start()
        assert started.wait(120)
        waiting = threading.Thread(target=lambda: ctx.jobs.run(small_request(), owner="u2"))
        waiting.start()
        threads.append(waiting)
        deadline = __import__("time").monotonic() + 30
        while ctx.jobs.queue.waiting < 1 and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.05)
        r = httpx.post(base + "/sdapi/v1/txt2img", json={"prompt": "x", "width": 64,
                                                         "height": 64, "steps": 1}, timeout=30)
        assert r.status_code == 503
        assert "queue is full" in r.json()["detail"] and "try again" in r.json()["detail"]
    finally:
        release.set()
        for t in threads:
            t.join(120)
        server.close()


def test_demo_caps_jobs_and_rate_limits_each_visitor(tmp_path, tiny_models_dir):
    from webui.app import create_context
    from webui.config import parse_settings
    from webui.request import RequestError

    s = parse_settings(["--demo", "--demo-rate", "1", "--models-dir", str(tiny_models_dir),
                        "--outputs-dir", str(tmp_path / "o"), "--data-dir", str(tmp_path / "d"),
                        "--device", "cpu"])
    assert (s.limits.max_steps, s.limits.max_size, s.limits.max_batch_size,
            s.limits.max_batch_count) == (30, 1024, 1, 1)
    ctx = create_context(s)
    with pytest.raises(RequestError, match="steps"):
        ctx.jobs.run(small_request(steps=31), owner="visitor-a")
    with pytest.raises(RequestError, match="(?i)batch"):
        ctx.jobs.run(small_request(batch_size=2), owner="visitor-b")
    ctx.jobs.run(small_request(steps=1), owner="visitor-c")
    ctx.jobs.run(small_request(steps=1), owner="visitor-c")  # a burst of two
    with pytest.raises(RateLimited, match="try again in"):
        ctx.jobs.run(small_request(steps=1), owner="visitor-c")
    ctx.jobs.run(small_request(steps=1), owner="visitor-d")  # others are not slowed


def test_demo_env_var_and_spaces_gpu_wrapper(monkeypatch, settings):
    import sys
    import types

    from webui.app import create_context
    from webui.config import parse_settings

    monkeypatch.setenv("WEBUI_DEMO", "1")
    assert parse_settings([]).demo
    calls = []
    holder = {}

    def gpu(fn):
        def wrapped(*a, **kw):
            result = fn(*a, **kw)
            # the GPU is held for the generation only: nothing written to disk yet
            calls.append((fn.__name__, holder["ctx"].store.count()))
            return result
        return wrapped

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))
    ctx = holder["ctx"] = create_context(settings)
    out = ctx.jobs.run(small_request(steps=1), owner="x")
    assert calls == [("run", 0)] and len(out.saved) == 1 and ctx.store.count() == 1
    monkeypatch.setitem(sys.modules, "spaces", None)  # not on a Space: nothing special
    ctx2 = create_context(settings)
    ctx2.jobs.run(small_request(steps=1), owner="x")
    assert calls == [("run", 0)]


def test_basic_header_forms():
    from webui.api.security import ApiCredentials, parse_keys

    creds = ApiCredentials(load_users(auth="u:p:w"), parse_keys("k-12345678,bot:k-abcdefgh", "x"))
    basic = "Basic " + base64.b64encode(b"u:p:w").decode()
    assert creds.identify(basic) == "u"  # passwords may contain ':'
    assert creds.identify("Bearer k-12345678").startswith("key-")
    assert creds.identify("Bearer k-abcdefgh") == "bot"
    assert creds.identify("Bearer k-1234567") is None
    assert creds.identify("Basic !!!") is None and creds.identify(None) is None
    with pytest.raises(AuthConfigError, match="shorter than 8"):
        parse_keys("short", "--api-keys")
