"""The engine: ``run(manager, request, progress) -> GenerationResult`` for every mode.

Each mode is a module with one ``run_<mode>`` function; ``RUNNERS`` maps ``request.mode`` to
it. The engine knows nothing of Gradio, HTTP or SQL.
"""

from __future__ import annotations

from collections.abc import Callable

from webui.engine.progress import JobProgress
from webui.engine.result import GenerationResult
from webui.engine.img2img import run_img2img
from webui.engine.inpaint import run_inpaint
from webui.engine.outpaint import run_outpaint
from webui.engine.txt2img import run_txt2img
from webui.request import GenerationRequest, RequestError

RUNNERS: dict[str, Callable] = {
    "txt2img": run_txt2img,
    "img2img": run_img2img,
    "inpaint": run_inpaint,
    "outpaint": run_outpaint,
}


def run(manager, req: GenerationRequest, progress: JobProgress | None = None) -> GenerationResult:
    """Run a validated request in its mode."""
    try:
        runner = RUNNERS[req.mode]
    except KeyError:
        raise RequestError(f"unknown mode {req.mode!r}; one of: {', '.join(RUNNERS)}") from None
    return runner(manager, req, progress)
