"""The ASGI middlewares in front of the app, and the demo visitor's Gradio auth dependency.

* ``VisitorCookieMiddleware`` (``--demo`` without logins): every browser gets a random
  visitor cookie; ``visitor_of`` turns it into the owner name Gradio sees.
* ``FileGuardMiddleware`` sits in front of Gradio's file routes: only files inside the
  outputs folder, Gradio's own cache and upload folders are served (after resolving ``..``,
  symlinks and URL-encoded forms), and an image in the outputs folder only to its owner (or
  an admin) when there are several users. Gradio hands a page its results as copies in its
  cache (``<cache>/<content hash>/<file name>``); a copy of a recorded image (same name, same
  bytes) is guarded as that image is.
* ``LoginPageGuard`` (logins): the login page does not describe the app's API.

Who a caller is comes from ``webui.caller.resolve_caller``, as for every other door.
"""

from __future__ import annotations

import filecmp
import logging
import os
import re
import secrets
from collections import OrderedDict
from pathlib import Path
from urllib.parse import unquote

from webui.caller import VISITOR_COOKIE, resolve_caller, visitor_name

log = logging.getLogger(__name__)


# -- demo visitors --------------------------------------------------------------------------
def visitor_of(request) -> str:
    """Gradio ``auth_dependency`` in demo mode: the visitor's owner name from their cookie
    (``VisitorCookieMiddleware`` makes sure there is one)."""
    token = request.cookies.get(VISITOR_COOKIE)
    if not token or not re.fullmatch(r"[\w-]{20,64}", token):
        token = request.scope.get("webui.visitor") or secrets.token_urlsafe(24)
    return visitor_name(token)


class VisitorCookieMiddleware:
    """Give every browser a random session cookie (demo mode), visible to the request that
    set it too."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers") or [])
        cookie = b"; ".join(v for k, v in headers if k == b"cookie").decode("latin-1")
        if re.search(rf"(^|;\s*){VISITOR_COOKIE}=[\w-]{{20,64}}", cookie):
            await self.app(scope, receive, send)
            return
        token = secrets.token_urlsafe(24)
        joined = f"{cookie}; " if cookie else ""
        headers = [(k, v) for k, v in headers if k != b"cookie"]
        headers.append((b"cookie", f"{joined}{VISITOR_COOKIE}={token}".encode()))
        scope = dict(scope, headers=headers)
        scope["webui.visitor"] = token
        forwarded = dict(headers).get(b"x-forwarded-proto", b"").decode()
        secure = scope.get("scheme") == "https" or forwarded == "https"
        attrs = "; Path=/; HttpOnly; " + ("SameSite=None; Secure; Partitioned" if secure
                                          else "SameSite=Lax")
        set_cookie = f"{VISITOR_COOKIE}={token}{attrs}".encode()

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message = dict(message, headers=list(message.get("headers", []))
                               + [(b"set-cookie", set_cookie)])
            await send(message)

        await self.app(scope, receive, send_with_cookie)


# -- file routes ----------------------------------------------------------------------------
_FILE_ROUTE = re.compile(r"^(?:/gradio_api)?/file(?:=|/)(.*)$", re.DOTALL)


class FileGuardMiddleware:
    """Refuse file-route requests for anything outside the outputs folder and Gradio's own
    folders, and (with several users) for images owned by someone else."""

    def __init__(self, app, ctx, gradio_app_getter):
        self.app = app
        self.ctx = ctx
        self.gradio_app = gradio_app_getter
        self.outputs = Path(ctx.settings.outputs_dir).resolve()
        # cache copy -> owners of the recorded images it copies (a copy's name holds the hash
        # of its bytes, so it never changes; the key has size and mtime all the same)
        self._copies: OrderedDict[tuple, frozenset] = OrderedDict()

    def _roots(self) -> list[Path]:
        import tempfile

        from gradio import utils

        roots = [self.outputs, Path(utils.get_cache_folder()).resolve()]
        gapp = self.gradio_app()
        upload = getattr(gapp, "uploaded_file_dir", None)
        if upload:
            roots.append(Path(upload).resolve())
        roots.append(Path(os.environ.get("GRADIO_TEMP_DIR")
                          or Path(tempfile.gettempdir()) / "gradio").resolve())
        return roots

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        m = _FILE_ROUTE.match(scope.get("path", ""))
        if not m:
            await self.app(scope, receive, send)
            return
        reason = self._check(m.group(1), scope)
        if reason is not None:
            log.info("file route refused (%s): %r", reason, m.group(1)[:200])
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await send({"type": "http.response.body", "body": b"File not allowed."})
            return
        await self.app(scope, receive, send)

    def _check(self, raw: str, scope) -> str | None:
        once = unquote(raw)
        if "\x00" in once or re.match(r"^[a-z][a-z0-9+.-]*:", once, re.I) and \
                not re.match(r"^[a-z]:[\\/]", once, re.I):
            return "URL or bad name"  # no remote fetches through the file route
        try:
            real = Path(os.path.abspath(raw)).resolve()
            if once != raw:  # a still-encoded form: judge the decoded one too
                if Path(os.path.abspath(once)).resolve() != real:
                    return "encoded path"
        except (OSError, ValueError, RuntimeError):
            return "bad path"
        if not any(real == r or r in real.parents for r in self._roots()):
            return "outside the served folders"
        if self.outputs == real or self.outputs in real.parents:
            return self._owner_check(real, scope)
        return self._copy_check(real, scope)

    def _caller(self, scope):
        from starlette.requests import Request

        return resolve_caller(self.ctx, Request(scope), gradio_app=self.gradio_app())

    def _owner_check(self, real: Path, scope) -> str | None:
        who = self._caller(scope)
        if who.is_admin:
            return None  # the one local user, or an admin outside the demo
        if who.is_anonymous:
            return "anonymous"
        rel = real.relative_to(self.outputs)
        if rel.parts and rel.parts[0] == ".thumbs":  # the 'file missing' tile
            return None
        owner = self.ctx.store.owner_of_file(rel)
        return None if owner is not False and who.may_see(owner) else "someone else's image"

    def _copy_check(self, real: Path, scope) -> str | None:
        """A file in Gradio's folders: refused when it is a copy of a recorded image (or its
        thumbnail) the caller may not see; any other file (uploads, previews) is served."""
        if not real.is_file():
            return None  # Gradio answers 404
        who = self._caller(scope)
        if who.is_admin:
            return None
        owners = self._copy_owners(real)
        if owners is None or any(who.may_see(owner) for owner in owners):
            return None
        return "a copy of someone else's image"

    def _copy_owners(self, real: Path) -> frozenset | None:
        """Owners of the recorded images ``real`` is a byte-for-byte copy of (an image or
        its thumbnail with the same file name); None when it copies none."""
        from webui.history.files import thumb_path

        st = real.stat()
        key = (str(real), st.st_size, st.st_mtime_ns)
        if key in self._copies:
            self._copies.move_to_end(key)
            owners = self._copies[key]
            return owners or None
        found = set()
        for owner, image in self.ctx.store.images_named(real.stem):
            for original in (image, thumb_path(image)):
                try:
                    if original.stat().st_size == st.st_size and \
                            filecmp.cmp(real, original, shallow=False):
                        found.add(owner)
                except OSError:
                    continue  # deleted meanwhile, or no thumbnail
        self._copies[key] = owners = frozenset(found)
        while len(self._copies) > 4096:
            self._copies.popitem(last=False)
        return owners or None


# -- login page ------------------------------------------------------------------------------
class LoginPageGuard:
    """Gradio's login page embeds the app's whole API description (endpoint names, model
    names, defaults) for anonymous visitors; blank it in pages served before login."""

    _INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        start = None
        chunks: list[bytes] = []

        async def buffered_send(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if not headers.get(b"content-type", b"").startswith(b"text/html"):
                    start = False
                    await send(message)
                else:
                    start = message
                return
            if start is False:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if re.search(rb'"auth_required":\s*true', body):
                body = self._INFO.sub(b"window.gradio_api_info = null;</script>", body)
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send(dict(start, headers=headers))
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffered_send)
