"""Who may call the HTTP API: HTTP Basic logins (``--api-auth``, else the browser logins of
``--auth``) and API keys (``--api-keys``/``--api-keys-file``, sent as ``Authorization: Bearer
<key>``).

``ApiAuthMiddleware`` guards every API route (``/sdapi/``, ``/v1/``) and the docs
(``/docs``, ``/openapi.json``) when any credential is configured; a caller who proves who they
are gets ``scope["webui.user"]``, which ``webui.caller.resolve_caller`` makes the owner of
their jobs, so progress and interrupt see only their own jobs. Nothing here logs or returns a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from webui.api.common import error_body
from webui.auth import AuthConfigError, Users, load_users

log = logging.getLogger(__name__)

GUARDED_PREFIXES = ("/sdapi/", "/v1/", "/ext/", "/controlnet/", "/docs", "/openapi.json",
                    "/redoc")


def _key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def parse_keys(text: str | None, where: str) -> dict[str, str]:
    """``key`` or ``name:key`` items (commas or lines) -> {key: owner name}."""
    keys: dict[str, str] = {}
    for i, item in enumerate(x.strip() for x in (text or "").replace("\n", ",").split(",")):
        if not item or item.startswith("#"):
            continue
        name, sep, key = item.partition(":")
        if not sep:
            name, key = "", name
        key = key.strip()
        if len(key) < 8:
            raise AuthConfigError(f"{where}: key {i + 1} is shorter than 8 characters")
        keys[key] = name.strip() or f"key-{_key_id(key)}"
    return keys


@dataclass
class ApiCredentials:
    """Basic logins and Bearer keys the API accepts; empty = the API is open."""

    users: Users = field(default_factory=Users)
    keys: dict[str, str] = field(default_factory=dict)  # key -> owner name

    @property
    def enabled(self) -> bool:
        return self.users.enabled or bool(self.keys)

    @classmethod
    def from_settings(cls, s) -> "ApiCredentials":
        if s.api_auth:
            users = load_users(s.api_auth)
        else:  # the browser logins, when there are any
            users = load_users(s.auth, s.auth_file, ",".join(s.admins) or None)
        keys = parse_keys(s.api_keys, "--api-keys")
        if s.api_keys_file:
            try:
                text = Path(s.api_keys_file).read_text()
            except OSError as exc:
                raise AuthConfigError(f"cannot read --api-keys-file {s.api_keys_file}: "
                                      f"{exc.strerror}") from None
            keys.update(parse_keys(text, f"--api-keys-file {s.api_keys_file}"))
        return cls(users, keys)

    def identify(self, authorization: str | None) -> str | None:
        """The caller's name for an ``Authorization`` header value, or None."""
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            for key, name in self.keys.items():  # constant time per key
                if hmac.compare_digest(key.encode(), value.encode()):
                    return name
            return None
        if scheme.lower() == "basic" and value:
            try:
                user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                return None
            if sep and self.users.check(user, password):
                return user
        return None


class ApiAuthMiddleware:
    """401 for an API request without valid credentials (in the API's own error shape)."""

    def __init__(self, app, credentials: ApiCredentials):
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith(GUARDED_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"authorization")
        user = self.credentials.identify(raw.decode("latin-1") if raw else None)
        if user is None:
            message = ("authentication required: send HTTP Basic credentials "
                       "(--api-auth user:pass) or 'Authorization: Bearer <API key>'")
            if raw:
                message = "wrong credentials: the login or API key is not accepted"
            body = json.dumps(error_body(scope["path"], 401, message, None)).encode()
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"www-authenticate", b'Basic realm="SDXL WebUI API"')]})
            await send({"type": "http.response.body", "body": body})
            return
        scope["webui.user"] = user
        await self.app(scope, receive, send)
