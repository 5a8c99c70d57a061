"""Small builders shared by tests."""

from __future__ import annotations

import socket


def small_request(**kw):
    """A request small enough for a CPU (64 px, 2 steps)."""
    from webui.request import GenerationRequest

    base = dict(prompt="a photo of a cat", width=64, height=64, steps=2, seed=1234,
                sampler="Euler")
    base.update(kw)
    return GenerationRequest(**base)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
