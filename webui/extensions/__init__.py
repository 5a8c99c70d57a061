"""Extensions: a small, typed API (``webui.extensions.api``) and the host that loads them
(``webui.extensions.host``). See ``extensions/README.md`` for the guide."""

from webui.extensions.api import Extension, JobView, NoArgs, Script
from webui.extensions.host import ExtensionError, ExtensionHost, ScriptArgsError

__all__ = ["Extension", "ExtensionError", "ExtensionHost", "JobView", "NoArgs", "Script",
           "ScriptArgsError"]
