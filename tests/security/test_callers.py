"""One caller, every door: each kind of caller x each door -> what they may see and do.

Three apps served for real on loopback: local (no login), logins (``--admins alice``, bob is
not an admin, plus the API key ``robot`` and an image made before logins were on), and the
hosted demo (visitors A and B by their cookies). The doors: the Gallery listing (a Gradio
event, as the page sends it), a file route for another owner's image and for the copy in
Gradio's cache that the owner's page received, the A1111 API (txt2img's owner,
``/progress``), and Stop (the txt2img tab's button and ``/sdapi/v1/interrupt``) on another's
running job.
"""

from __future__ import annotations

import json
import threading
import uuid
from contextlib import closing

import httpx
import pytest

from tests.helpers import small_request
from tests.helpers import free_port
from webui.caller import ANONYMOUS, LOCAL_USER, Caller, resolve_caller, visitor_name

PASSWORDS = {"alice": "alice-Pw-7f3k9q", "bob": "bob-Pw-2m8x4z"}
KEY = "robot:key-Zq81xXw0v3bT"
TOKENS = {"A": "visitorA-" + "a" * 24, "B": "visitorB-" + "b" * 24}
VISITOR = {k: visitor_name(t) for k, t in TOKENS.items()}


# -- the one resolver, without a server ----------------------------------------------------
class Event:
    """What a Gradio event's ``gr.Request`` carries."""

    def __init__(self, username=None, session_hash="tab-1"):
        self.username, self.session_hash = username, session_hash


class Ctx:
    def __init__(self, **kw):
        from webui.config import Settings

        self.settings = Settings(**kw)
        self.users = None
        self.api_credentials = None


LOCAL = dict()
LOGINS = dict(auth="alice:a,bob:b", admins=("alice",))
DEMO = dict(demo=True)
DEMO_LOGINS = dict(demo=True, auth="alice:a,bob:b", admins=("alice",))


@pytest.mark.parametrize("mode, request_, expected", [
    (LOCAL, None, LOCAL_USER),
    (LOCAL, Event(), Caller(None, True, False, "tab-1")),
    (LOGINS, Event("alice"), Caller("alice", True)),
    (LOGINS, Event("bob"), Caller("bob", False)),
    (LOGINS, Event(None), Caller(ANONYMOUS)),  # was: the local admin
    (LOGINS, None, Caller(ANONYMOUS)),
    (DEMO, Event(VISITOR["A"]), Caller(VISITOR["A"], False, True)),
    (DEMO, Event(None, "s1"), Caller(visitor_name("session:s1"), False, True)),  # was: admin
    (DEMO, None, Caller(ANONYMOUS, False, True)),  # was: admin in the gallery
    (DEMO_LOGINS, Event("alice"), Caller("alice", False)),  # nobody is admin in the demo
], ids=["local-inprocess", "local-tab", "admin", "user", "login-no-name", "login-none",
        "visitor", "demo-no-name", "demo-none", "demo-admin"])
def test_resolve_caller(mode, request_, expected):
    assert resolve_caller(Ctx(**mode), request_) == expected


def test_without_admins_flag_nobody_is_admin(tmp_path):
    """The bug: with ``--auth alice:pw1,bob:pw2`` the first user listed silently became the
    admin (and saw bob's images). Only ``--admins`` makes an admin."""
    from webui.app import create_context
    from webui.config import Settings, check_settings

    ctx = create_context(check_settings(Settings(
        models_dir=tmp_path / "m", outputs_dir=tmp_path / "o", data_dir=tmp_path / "d",
        device="cpu", auth="alice:pw1,bob:pw2")))
    assert resolve_caller(ctx, Event("alice")) == Caller("alice", False)
    assert resolve_caller(ctx, Event("bob")) == Caller("bob", False)


def test_no_name_in_the_demo_sees_nothing_in_the_gallery(tiny_models_dir, tmp_path):
    """The bug: the Gallery took a caller without a user name for the admin, demo or not."""
    import gradio as gr

    from webui.app import create_context
    from webui.config import Settings
    from webui.ui.history import build_gallery_tab

    ctx = create_context(Settings(models_dir=tiny_models_dir, outputs_dir=tmp_path / "o",
                                  data_dir=tmp_path / "d", device="cpu", demo=True))
    ctx.jobs.run(small_request(prompt="visitor a secret"), owner=VISITOR["A"])
    with gr.Blocks():
        tab = build_gallery_tab(ctx)
    assert tab.load(None)[0] == []
    assert tab.load(Event(None, "s1"))[0] == []
    assert len(tab.load(Event(VISITOR["A"]))[0]) == 1


# -- the table, through the real apps -------------------------------------------------------
def _serve(root, **kw):
    from webui.app import create_context
    from webui.config import Settings, check_settings
    from webui.server.uvicorn_server import serve

    ctx = create_context(check_settings(Settings(
        models_dir=root.parent / "models", outputs_dir=root / "outputs",
        data_dir=root / "data", device="cpu", api=True, **kw)))
    return ctx, serve(ctx, block=False, port=free_port())


@pytest.fixture(scope="module")
def apps(tiny_models_dir, tmp_path_factory):
    """{"local"|"logins"|"demo": (ctx, server, {owner: image path})}."""
    import shutil

    root = tmp_path_factory.mktemp("callers")
    shutil.copytree(tiny_models_dir, root / "models")
    made = {
        "local": _serve(root / "local"),
        "logins": _serve(root / "logins", auth=",".join(f"{u}:{p}" for u, p in
                                                        PASSWORDS.items()),
                         admins=("alice",), api_keys=KEY),
        "demo": _serve(root / "demo", demo=True, demo_rate=6000),
    }
    owners = {"local": [LOCAL_USER, Caller("api")],
              # LOCAL_USER: an image made before logins were on (no owner)
              "logins": [LOCAL_USER, Caller("alice"), Caller("bob"), Caller("robot")],
              "demo": [Caller(VISITOR["A"]), Caller(VISITOR["B"])]}
    out = {}
    try:
        for name, (ctx, server) in made.items():
            images = {}
            for who in owners[name]:
                saved = ctx.jobs.run(small_request(prompt=f"img of {who.owner}", steps=1),
                                     owner=who).saved
                images[who.owner] = saved[0].path
            out[name] = (ctx, server, images)
        yield out
    finally:
        for _, server in made.values():
            server.close()


#: caller kind -> (app, how it proves who it is, its owner, another owner)
CALLERS = {
    "local": ("local", {}, None, "api"),
    "user": ("logins", {"login": "bob"}, "bob", "alice"),
    "admin": ("logins", {"login": "alice"}, "alice", "bob"),
    "visitor A": ("demo", {"cookie": TOKENS["A"]}, VISITOR["A"], VISITOR["B"]),
    "visitor B": ("demo", {"cookie": TOKENS["B"]}, VISITOR["B"], VISITOR["A"]),
    "API key": ("logins", {"key": KEY.split(":", 1)[1]}, "robot", "alice"),
    "basic auth": ("logins", {"basic": "bob"}, "bob", "alice"),
}


def client_for(apps, kind) -> tuple[httpx.Client, object, tuple]:
    app, proof, owner, other = CALLERS[kind]
    ctx, server, images = apps[app]
    client = httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120)
    if "login" in proof:
        user = proof["login"]
        r = client.post("/login", data={"username": user, "password": PASSWORDS[user]})
        assert r.status_code == 200, r.text
    if "cookie" in proof:
        client.cookies.set("webui-visitor", proof["cookie"])
    if "key" in proof:
        client.headers["Authorization"] = f"Bearer {proof['key']}"
    if "basic" in proof:
        client.auth = (proof["basic"], PASSWORDS[proof["basic"]])
    return client, (ctx, server, images), (owner, other)


def fn_index(server, name: str, by_api_name: bool = False) -> int:
    for i, f in server.demo.fns.items():
        if (f.api_name if by_api_name else getattr(f.fn, "__name__", None)) == name:
            return i
    raise LookupError(name)


def gallery_items(client, server) -> list[dict] | int:
    """The Gallery's items (thumbnail file data and caption) for this client, from its
    page-load event as the browser sends it, or the HTTP status when Gradio refuses it."""
    session = uuid.uuid4().hex[:11]
    r = client.post("/gradio_api/queue/join", json={
        "data": [], "fn_index": fn_index(server, "initial"), "session_hash": session,
        "event_data": None, "trigger_id": None})
    if r.status_code != 200:
        return r.status_code
    with client.stream("GET", f"/gradio_api/queue/data?session_hash={session}") as resp:
        for line in resp.iter_lines():
            if line.startswith("data:") and "process_completed" in line:
                return json.loads(line[5:])["output"]["data"][0]
    raise AssertionError("the gallery event never completed")


def gallery_prompts(client, server) -> set[str] | int:
    """The prompts (with their labels) the Gallery lists for this client, or the HTTP status
    when Gradio refuses the event."""
    items = gallery_items(client, server)
    if isinstance(items, int):
        return items
    return {item["caption"].split(" ", 1)[1] for item in items}


# who sees which images in the Gallery (None: Gradio refuses the event, no browser login)
GALLERY = {
    "local": {"img of None", "img of api"},  # the one local user sees everything
    "user": {"img of bob"},
    "admin": {"img of alice", "img of bob", "img of robot", "(made before logins) img of None"},
    "visitor A": {f"img of {VISITOR['A']}"},
    "visitor B": {f"img of {VISITOR['B']}"},
    "API key": None,
    "basic auth": None,
}


@pytest.mark.parametrize("kind", list(CALLERS))
def test_gallery_lists_what_the_caller_may_see(apps, kind):
    client, (_, server, _), _ = client_for(apps, kind)
    with closing(client):
        seen = gallery_prompts(client, server)
    if GALLERY[kind] is None:
        assert seen in (401, 403)
    else:
        assert seen == GALLERY[kind]


# may the caller read another owner's image (and its thumbnail) through /file=?
OTHERS_FILE = {"local": True, "user": False, "admin": True, "visitor A": False,
               "visitor B": False, "API key": False, "basic auth": False}


@pytest.mark.parametrize("kind", list(CALLERS))
def test_file_route_for_another_owners_image(apps, kind):
    client, (_, _, images), (owner, other) = client_for(apps, kind)
    theirs = images[other]
    thumb = theirs.parent / ".thumbs" / f"{theirs.stem}.webp"
    with closing(client):
        for path in (theirs, thumb):
            r = client.get(f"/gradio_api/file={path}")
            if OTHERS_FILE[kind]:
                assert r.status_code == 200, path
            else:
                assert r.status_code == 403 and b"PNG" not in r.content[:8], path
        if owner in images and kind not in ("API key", "basic auth"):  # browsers: their own
            assert client.get(f"/gradio_api/file={images[owner]}").status_code == 200


def page_of(apps, kind: str, owner) -> httpx.Client:
    """A browser client of ``owner`` in the app of caller ``kind``: the page whose Gallery
    received the image's URL."""
    app = CALLERS[kind][0]
    client = httpx.Client(base_url=apps[app][1].local_url.rstrip("/"), timeout=120)
    if app == "logins":
        r = client.post("/login", data={"username": owner, "password": PASSWORDS[owner]})
        assert r.status_code == 200, r.text
    elif app == "demo":
        client.cookies.set("webui-visitor", TOKENS["A" if owner == VISITOR["A"] else "B"])
    return client


def file_url(item: dict) -> str:
    """The path part of a Gallery item's file URL (``/gradio_api/file=<gradio cache>/...``)."""
    url = httpx.URL(item["image"]["url"])
    return url.raw_path.decode()


@pytest.mark.parametrize("kind", list(CALLERS))
def test_gradio_cache_copy_of_another_owners_image(apps, kind):
    """Gradio serves a page its images as copies in its own cache folder; the URL the owner's
    page received works for the owner only (and admins), like the image's own path."""
    client, (_, server, images), (owner, other) = client_for(apps, kind)
    if other == "api":  # local app: the one page sees the API's image too
        other_page = page_of(apps, kind, None)
    else:
        other_page = page_of(apps, kind, other)
    with closing(client), closing(other_page):
        items = gallery_items(other_page, server)
        theirs = [i for i in items if i["caption"].endswith(f"img of {other}")]
        assert len(theirs) == 1, items
        url = file_url(theirs[0])
        assert str(images[other].parent) not in url  # a copy, not the outputs path
        assert other_page.get(url).status_code == 200  # the owner's page shows it
        r = client.get(url)
        if OTHERS_FILE[kind]:
            assert r.status_code == 200
        else:  # refused by the file guard (403), or by Gradio without a browser login (401)
            assert r.status_code in (401, 403) and r.content[:4] not in (b"\x89PNG", b"RIFF")
    with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=60) as anonymous:
        if CALLERS[kind][0] != "local":
            assert anonymous.get(url).status_code in (401, 403)


@pytest.mark.parametrize("kind", ["user", "admin", "API key", "basic auth"])
def test_images_made_before_logins_are_for_admins_only(apps, kind):
    """An image without an owner (made while logins were off) is an admin's to see."""
    client, (_, server, images), _ = client_for(apps, kind)
    with closing(client), closing(page_of(apps, "admin", "alice")) as admin_page:
        items = gallery_items(admin_page, server)
        before = [i for i in items if i["caption"].endswith("(made before logins) img of None")]
        assert len(before) == 1, items
        for url in (f"/gradio_api/file={images[None]}", file_url(before[0])):
            r = client.get(url)
            assert (r.status_code == 200) == (kind == "admin"), (url, r.status_code)


# whose image an A1111 txt2img call makes (401: a browser login is no API credential)
API_TXT2IMG = {"local": "api", "user": 401, "admin": 401, "visitor A": "api",
               "visitor B": "api", "API key": "robot", "basic auth": "bob"}


@pytest.mark.parametrize("kind", list(CALLERS))
def test_a1111_txt2img_is_the_callers_job(apps, kind):
    client, (ctx, _, _), _ = client_for(apps, kind)
    prompt = f"api job {uuid.uuid4().hex[:6]}"
    with closing(client):
        r = client.post("/sdapi/v1/txt2img", json={"prompt": prompt, "width": 64, "height": 64,
                                                   "steps": 1})
    rows = [row for row in ctx.store.recent(200) if row.prompt == prompt]
    if API_TXT2IMG[kind] == 401:
        assert r.status_code == 401 and rows == []
    else:
        assert r.status_code == 200, r.text
        assert [row.owner for row in rows] == [API_TXT2IMG[kind]]


class HeldJob:
    """A job of ``owner`` that holds the device at its first step until released."""

    def __init__(self, ctx, owner: Caller):
        from webui.engine.progress import JobProgress

        self.started, self.release = threading.Event(), threading.Event()
        self.progress = JobProgress()
        self.progress.listeners.append(lambda _p: (self.started.set(), self.release.wait(60)))
        self.thread = threading.Thread(target=lambda: ctx.jobs.run(
            small_request(steps=2), owner=owner, progress=self.progress), daemon=True)

    def __enter__(self):
        self.thread.start()
        assert self.started.wait(120), "held job never started"
        return self.progress

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(60)


@pytest.mark.parametrize("whose", ["own", "other"])
@pytest.mark.parametrize("kind", list(CALLERS))
def test_stop_and_progress_reach_only_the_callers_own_job(apps, kind, whose):
    client, (ctx, server, _), (owner, other) = client_for(apps, kind)
    session = uuid.uuid4().hex[:11]
    api_client = kind in ("API key", "basic auth")
    if kind == "local":
        victim = Caller(None, True, session=session if whose == "own" else "another-tab")
    else:
        victim = Caller(owner if whose == "own" else other)
    with closing(client), HeldJob(ctx, victim) as held:
        if api_client:
            progress = client.get("/sdapi/v1/progress").json()
            assert progress["state"]["job_count"] == (1 if whose == "own" else 0)
            client.post("/sdapi/v1/interrupt")
        else:  # the txt2img tab's Stop button, from this browser
            r = client.post("/gradio_api/run/predict", json={
                "data": [], "fn_index": fn_index(server, "stop", by_api_name=True),
                "session_hash": session, "event_data": None, "trigger_id": None})
            assert r.status_code == 200, r.text
            if kind != "local" and CALLERS[kind][0] != "demo":
                # a browser login is no API credential: the API refuses it
                assert client.get("/sdapi/v1/progress").status_code == 401
            elif kind != "local":  # demo: the open API is the shared "api" owner
                assert client.get("/sdapi/v1/progress").json()["state"]["job_count"] == 0
        assert held.stopped == (whose == "own")


def test_open_api_stops_only_api_jobs_not_a_browser_tabs(apps):
    """Local app: the open API client is the ``api`` owner; it cannot stop a tab's job."""
    ctx, server, _ = apps["local"]
    with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as client:
        with HeldJob(ctx, Caller(None, True, session="a-tab")) as held:
            assert client.get("/sdapi/v1/progress").json()["state"]["job_count"] == 0
            client.post("/sdapi/v1/interrupt")
            assert not held.stopped
        with HeldJob(ctx, Caller("api")) as held:
            assert client.get("/sdapi/v1/progress").json()["state"]["job_count"] == 1
            client.post("/sdapi/v1/interrupt")
            assert held.stopped
