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
    assert users.is_admin("bob") and not users.is_admin("alice")  # first listed (file first)
    assert load_users(auth="a:1,b:2", admins="b").admins == {"b"}


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
