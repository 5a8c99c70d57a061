"""Who is calling: one ``Caller`` per HTTP request or Gradio event, decided in one place.

Every door asks :func:`resolve_caller` — the generation tabs, Stop, the Gallery, the file
routes, the A1111 and Stability APIs (generation, ``progress``, ``interrupt``) — so they all
agree on who someone is and what they may see:

================================  ===============  ========  ===============
who                               owner            is_admin  is_demo_visitor
================================  ===============  ========  ===============
local user (no logins, no demo)   None             True      False
logged-in user (``--auth``)       user name        listed    False
demo visitor (``--demo``)         visitor-<hash>   False     True
API login or key                  its name         listed    False
open API (no credentials)         ``"api"``        local     in demo
nobody proven in a shared app     ``ANONYMOUS``    False     in demo
================================  ===============  ========  ===============

"listed": named by ``--admins`` (no flag, no admin: the first login is no admin). In the
hosted demo nobody is an admin, not even a listed login. Images without an owner (made
before logins were on) are an admin's only (``Caller.may_see``); on the file routes that
holds for Gradio's cache copies too (``webui.server.middleware.FileGuardMiddleware``).

A caller proves who they are by the transport's own means, checked before this runs:
Gradio's login form or the demo's visitor cookie (``request.username`` in a Gradio event,
the same cookies on a file route) and ``Authorization`` on the API (``ApiAuthMiddleware``
puts the name in ``scope["webui.user"]``). This module only reads what they proved.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: owner of API jobs when the API has no credentials: every such client shares it, and no UI
#: session can be stopped through the API
API_OWNER = "api"
#: owner of a caller in a shared app who proved nobody: owns nothing, sees nothing (a name no
#: login, key or visitor can have: those never contain ':')
ANONYMOUS = ":anonymous"
#: job key of the local user's jobs started without a browser session (in-process calls)
LOCAL = "local"
#: the HTTP API's paths; every other HTTP path is the browser's
#: /ext/<name>/: extensions' routes; /controlnet/: sd-webui-controlnet's (webui.api.controlnet)
API_PREFIXES = ("/sdapi/", "/v1/", "/ext/", "/controlnet/")
VISITOR_COOKIE = "webui-visitor"


@dataclass(frozen=True)
class Caller:
    """Who is asking. ``owner`` is whose images and jobs are theirs (None: the single local
    user, whose images have no owner); ``session`` only tells one person's browser tabs apart
    for Stop and progress, and is never an owner."""

    owner: str | None
    is_admin: bool = False
    is_demo_visitor: bool = False
    session: str | None = None

    @property
    def job_key(self) -> str:
        """The key of this caller's jobs in the queue (progress, Stop, rate limit)."""
        if self.owner is not None:
            return self.owner
        return self.session or LOCAL

    @property
    def is_anonymous(self) -> bool:
        return self.owner == ANONYMOUS

    def may_see(self, owner: str | None) -> bool:
        """May this caller see (and change) something owned by ``owner``?"""
        return self.is_admin or (not self.is_anonymous and owner == self.owner)

    @classmethod
    def named(cls, owner: str) -> "Caller":
        """The caller for an owner name given in code (tests, tools): ``"local"`` is the local
        user; any other name an ordinary user."""
        return LOCAL_USER if owner == LOCAL else cls(owner)


LOCAL_USER = Caller(None, is_admin=True)


def visitor_name(token: str) -> str:
    """The owner name of a visitor cookie (the cookie itself is never stored)."""
    return "visitor-" + hashlib.sha256(token.encode()).hexdigest()[:16]


def resolve_caller(ctx, request=None, *, gradio_app=None) -> Caller:
    """THE caller of ``request``: a Gradio event's ``gr.Request``, a Starlette/FastAPI
    request (API route or file route), or None for an in-process call (the local user when
    nothing is shared, else nobody). ``gradio_app`` lets an HTTP request outside Gradio's
    own routes (the file guard) be recognised by Gradio's login cookie."""
    s = ctx.settings
    users = ctx.users
    logins = bool(users is not None and users.enabled) or s.login_enabled
    admins = set(s.admins or ())

    def user(name: str) -> Caller:
        return Caller(name, is_admin=name in admins and not s.demo)

    nobody = Caller(ANONYMOUS, is_demo_visitor=s.demo and not logins)
    if request is None:
        return nobody if (logins or s.demo) else LOCAL_USER

    if hasattr(request, "session_hash"):  # a Gradio event
        name = getattr(request, "username", None)
        session = getattr(request, "session_hash", None)
    else:  # plain HTTP
        scope = request.scope
        if scope.get("path", "").startswith(API_PREFIXES):
            name = scope.get("webui.user")  # proved by ApiAuthMiddleware
            if name:
                return user(name)
            if ctx.api_credentials is not None and ctx.api_credentials.enabled:
                return nobody  # the middleware lets nobody through: never reached
            return Caller(API_OWNER, is_admin=not (logins or s.demo), is_demo_visitor=s.demo)
        name, session = _browser_name(ctx, request, gradio_app, logins), None

    if logins:
        return user(name) if name else nobody
    if s.demo:
        if name and name.startswith("visitor-"):
            return Caller(name, is_demo_visitor=True)
        if session:  # no visitor cookie (a client that drops cookies): private to its session
            return Caller(visitor_name("session:" + session), is_demo_visitor=True)
        return nobody
    return Caller(None, is_admin=True, session=session)  # the one local user


def _browser_name(ctx, request, gradio_app, logins: bool) -> str | None:
    """The name a browser's cookies prove on a plain HTTP request: Gradio's login token, or
    (demo without logins) the visitor cookie."""
    if logins:
        if gradio_app is None:
            return None
        token = request.cookies.get(f"access-token-{gradio_app.cookie_id}") or \
            request.cookies.get(f"access-token-unsecure-{gradio_app.cookie_id}")
        return gradio_app.tokens.get(token) if token else None
    if ctx.settings.demo:
        token = request.cookies.get(VISITOR_COOKIE)
        return visitor_name(token) if token else None
    return None
