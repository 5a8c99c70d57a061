"""Small builders shared by tests."""

from __future__ import annotations


def small_request(**kw):
    """A request small enough for a CPU (64 px, 2 steps)."""
    from webui.request import GenerationRequest

    base = dict(prompt="a photo of a cat", width=64, height=64, steps=2, seed=1234,
                sampler="Euler")
    base.update(kw)
    return GenerationRequest(**base)
