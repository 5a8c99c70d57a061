"""Prompt policy: the operator's rules (block or warn), artists' opt-outs, and matching that
sees through spelling tricks without crying wolf.

``PromptPolicy.check(texts, owner=..., door=...)`` is the one call every door makes (the app
context holds the policy as ``ctx.policy``); it raises ``PromptBlocked`` (a ``RequestError``,
so every door answers it as bad input) or returns the warnings to show. Modules:
``normalize`` (text -> words), ``matcher`` (the term index), ``rules`` (the file format),
``policy`` (the file, reloading, checking, the event hook).
"""

from webui.policy.policy import SHIPPED_POLICY, PolicyEvent, PromptBlocked, PromptPolicy
from webui.policy.rules import Finding, PolicyError, PolicySpec, parse_policy

__all__ = ["PromptPolicy", "PromptBlocked", "PolicyError", "PolicyEvent", "Finding",
           "PolicySpec", "parse_policy", "SHIPPED_POLICY"]
