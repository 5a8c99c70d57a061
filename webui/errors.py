"""Errors shared by every layer: the lowest module of ``webui``, importing nothing from it."""

from __future__ import annotations


class RequestError(ValueError):
    """A request that cannot run; the message is shown to the user as is."""
