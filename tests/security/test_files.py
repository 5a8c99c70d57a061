"""File routes: nothing outside the outputs folder, and each user's images only to them."""

from __future__ import annotations

import os
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import small_request
from tests.security.conftest import login


@pytest.fixture(scope="module")
def images(secured):
    """alice's and bob's images (paths), and a secret file beside the outputs folder."""
    ctx, _, _ = secured
    a = ctx.jobs.run(small_request(prompt="alice private"), owner="alice").saved[0].path
    b = ctx.jobs.run(small_request(prompt="bob private"), owner="bob").saved[0].path
    secret = ctx.settings.outputs_dir.parent / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    link = ctx.settings.outputs_dir / "txt2img-images" / "link.png"
    link.symlink_to(secret)
    return a, b, secret, link


def get(client, path: str) -> httpx.Response:
    return client.get(f"/gradio_api/file={path}")


def test_anonymous_cannot_read_images(secured, images):
    _, _, base = secured
    alice_img = images[0]
    with httpx.Client(base_url=base, timeout=30) as anon:
        for route in ("/gradio_api/file=", "/file=", "/gradio_api/file/"):
            r = anon.get(route + str(alice_img))
            assert r.status_code in (401, 403), route
            assert not r.content.startswith(b"\x89PNG")


def test_users_read_only_their_own_images(secured, images):
    _, _, base = secured
    alice_img, bob_img = images[0], images[1]
    with login(base, "bob") as bob:
        r = get(bob, alice_img)
        assert r.status_code == 403 and not r.content.startswith(b"\x89PNG")
        thumb = alice_img.parent / ".thumbs" / f"{alice_img.stem}.webp"
        assert thumb.is_file()
        assert get(bob, thumb).status_code == 403
        mine = get(bob, bob_img)
        assert mine.status_code == 200 and mine.content.startswith(b"\x89PNG")
    with login(base, "alice") as alice:  # alice is the admin (--admins alice)
        assert get(alice, bob_img).status_code == 200


@pytest.mark.parametrize("form", [
    "{out}/../secret.txt",
    "{out}/txt2img-images/../../secret.txt",
    "{secret}",
    "/etc/passwd",
    "{out_q}%2F..%2Fsecret.txt",
    "{out_q}%2F%2e%2e%2Fsecret.txt",
    "{out_q}%252F..%252Fsecret.txt",
    "{out}/%2e%2e/secret.txt",
    "{link}",
    "file://{secret}",
])
def test_paths_outside_outputs_cannot_be_read(secured, images, form):
    ctx, _, base = secured
    _, _, secret, link = images
    out = ctx.settings.outputs_dir.resolve()
    path = form.format(out=out, secret=secret, link=link, out_q=quote(str(out), safe=""))
    with login(base, "alice") as alice:  # even the admin
        for route in ("/gradio_api/file=", "/file=", "/gradio_api/file/"):
            r = alice.get(route + path)
            assert r.status_code in (403, 404), (route, path, r.status_code)
            assert b"TOP-SECRET-CONTENT" not in r.content and b"root:" not in r.content


def test_symlink_left_in_place_for_the_test(images):
    assert os.path.islink(images[3])  # the symlink exists: the refusal above is the guard's
