"""Logins for a shared (LAN) instance: ``--auth user:pass,...`` or ``--auth-file``.

Passwords in an auth file may be stored hashed (``pbkdf2_sha256$<iterations>$<salt>$<hex>``,
made with ``python -m webui.auth hash``) so the file never holds a plain password. Admins are
exactly the users ``--admins`` names: without it nobody is an admin (no user is promoted for
being listed first). Nothing here ever logs or returns a password.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path

_SCHEME = "pbkdf2_sha256"
_ITERATIONS = 200_000


class AuthConfigError(ValueError):
    """A malformed --auth value or auth file; the message never contains a password."""


def hash_password(password: str, iterations: int = _ITERATIONS) -> str:
    """A salted PBKDF2-SHA256 hash in ``pbkdf2_sha256$iterations$salt$hex`` form."""
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{_SCHEME}${iterations}${salt}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a plain or hashed stored value."""
    if stored.startswith(_SCHEME + "$"):
        try:
            _, iterations, salt, hexdigest = stored.split("$")
            digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(),
                                         int(iterations))
        except ValueError:
            return False
        return hmac.compare_digest(digest.hex(), hexdigest)
    return hmac.compare_digest(password.encode(), stored.encode())


@dataclass
class Users:
    """Who may log in, and who is an admin."""

    passwords: dict[str, str] = field(default_factory=dict)  # user -> plain or hashed
    admins: set[str] = field(default_factory=set)

    @property
    def enabled(self) -> bool:
        return bool(self.passwords)

    def check(self, username: str, password: str) -> bool:
        """Gradio's ``auth=`` callable: True when the login is right."""
        stored = self.passwords.get(username)
        return stored is not None and verify_password(password, stored)

    def is_admin(self, username: str | None) -> bool:
        """Admins may change settings and models; with auth off the local user is admin."""
        if not self.enabled:
            return True
        return username in self.admins

    def names(self) -> list[str]:
        return sorted(self.passwords)

    def summary(self) -> str:
        """The start-up log line: who may log in and who is an admin."""
        if not self.enabled:
            return "Logins off: the one local user sees every image and is the admin."
        who = f"Logins on for {len(self.passwords)} user(s) ({', '.join(self.names())}); "
        if self.admins:
            return who + (f"admin(s): {', '.join(sorted(self.admins))}. Each user sees only "
                          "their own images; admins see all, and those made before logins.")
        return who + ("no admin: each user sees only their own images, nobody may change "
                      "settings or import folders, and images made before logins are hidden. "
                      "Name admins with --admins USER[,USER].")


def _parse_pairs(text: str, where: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for i, item in enumerate(x.strip() for x in text.replace("\n", ",").split(",")):
        if not item or item.startswith("#"):
            continue
        user, sep, password = item.partition(":")
        if not sep or not user.strip() or not password:
            raise AuthConfigError(f"{where}: entry {i + 1} is not user:password")
        users[user.strip()] = password
    return users


def load_users(auth: str | None = None, auth_file: Path | None = None,
               admins: str | None = None) -> Users:
    """Users from ``--auth`` and ``--auth-file`` (one ``user:password`` per line or comma);
    the admins are the users ``admins`` (``--admins``) names, none without it."""
    passwords: dict[str, str] = {}
    if auth_file is not None:
        try:
            text = Path(auth_file).read_text()
        except OSError as exc:
            raise AuthConfigError(f"cannot read --auth-file {auth_file}: {exc.strerror}") from None
        found = _parse_pairs(text, f"--auth-file {auth_file}")
        passwords.update(found)
    if auth:
        found = _parse_pairs(auth, "--auth")
        passwords.update(found)
    admin_set = {a.strip() for a in (admins or "").split(",") if a.strip()}
    unknown = admin_set - set(passwords)
    if unknown:
        raise AuthConfigError(f"--admins names unknown users: {', '.join(sorted(unknown))}")
    return Users(passwords, admin_set)  # no --admins: nobody is an admin


def main(argv: list[str] | None = None) -> None:
    """``python -m webui.auth hash [USER]``: print an auth-file line with a hashed password."""
    p = argparse.ArgumentParser(prog="python -m webui.auth", description=main.__doc__)
    p.add_argument("command", choices=["hash"])
    p.add_argument("user", nargs="?", default="admin")
    a = p.parse_args(argv)
    password = getpass.getpass(f"password for {a.user}: ")
    print(f"{a.user}:{hash_password(password)}")


if __name__ == "__main__":
    main()
