"""What browser callers may do. Who they are is decided by
``webui.caller.resolve_caller`` (the one place, shared with the API):

* **Local** (no ``--auth``, no ``--demo``): one local user, who is admin and sees everything.
* **Logins** (``--auth``/``--auth-file``): Gradio's login form; the owner of a job or image
  is the user name; only the users ``--admins`` names (nobody without it) may change
  settings, import folders, and see and delete anyone's images (those made before logins,
  which have no owner, too).
* **Demo** (``--demo``): no logins; each browser gets a random visitor cookie for its session
  and its owner name is derived from it, so a visitor sees only their own images and jobs;
  nobody is admin.

Which files a browser may read is the file guard's (``webui.server.middleware``).
"""

from __future__ import annotations

from webui.caller import Caller, resolve_caller

ADMIN_ONLY = "Only an admin can do this on a shared server (see --admins)."
DEMO_OFF = "This is turned off in the hosted demo."


def refusal(ctx, request) -> str | None:
    """Why the caller (a ``gr.Request`` or a resolved ``Caller``) may not write to disk or
    run code (settings, imports, model files), or None when they may."""
    if ctx.settings.demo:
        return DEMO_OFF
    who = request if isinstance(request, Caller) else resolve_caller(ctx, request)
    return None if who.is_admin else ADMIN_ONLY
