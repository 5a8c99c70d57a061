"""Text-to-image: the shared loop with the txt2img pipeline at the requested size."""

from __future__ import annotations

from webui.engine.core import ModeSpec, run_job
from webui.engine.progress import JobProgress
from webui.engine.result import GenerationResult
from webui.request import GenerationRequest


def run_txt2img(manager, req: GenerationRequest,
                progress: JobProgress | None = None) -> GenerationResult:
    """Generate ``batch_count`` x ``batch_size`` images from ``req``'s prompt."""
    spec = ModeSpec(
        pipeline="txt2img",
        call_kwargs=lambda r, seeds: {"width": r.width, "height": r.height},
    )
    return run_job(manager, req, progress, spec)
