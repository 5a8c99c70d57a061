"""The output filter's parts: :class:`Finding`, the :class:`Detector` interface and
:class:`OutputFilter` (what happens to a flagged picture). See :mod:`webui.safety`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from PIL import Image, ImageFilter

log = logging.getLogger(__name__)

ACTIONS = ("blur", "withhold")
#: what the Stability API's ``finishReason`` says of a filtered picture (as Stability's)
CONTENT_FILTERED = "CONTENT_FILTERED"


@dataclass(frozen=True)
class Finding:
    """One thing a detector saw: its label, a score in 0..1, and where (x, y, w, h)."""

    label: str
    score: float
    box: tuple[int, int, int, int] | None = None

    def text(self) -> str:
        return f"{self.label} {self.score:.2f}"


@runtime_checkable
class Detector(Protocol):
    """What the output filter needs of a detector."""

    name: str

    def detect(self, image: Image.Image) -> list[Finding]:
        """The findings in ``image`` that should flag it (an empty list: none)."""
        ...


@dataclass(frozen=True)
class FilterVerdict:
    """What the filter did to one picture: ``image`` is what is saved; ``findings`` the
    ones at or above the threshold (empty: not flagged)."""

    image: Image.Image
    findings: tuple[Finding, ...] = ()
    action: str = ""

    @property
    def flagged(self) -> bool:
        return bool(self.findings)

    def describe(self) -> str:
        """``"blurred: FEMALE_BREAST_EXPOSED 0.83"``; "" when not flagged."""
        if not self.findings:
            return ""
        done = "blurred" if self.action == "blur" else "withheld"
        return f"{done}: " + ", ".join(f.text() for f in self.findings)


class OutputFilter:
    """A detector plus what to do with a flagged picture."""

    def __init__(self, detector: Detector, action: str = "blur", threshold: float = 0.5):
        if action not in ACTIONS:
            raise ValueError(f"--safety-action must be one of {', '.join(ACTIONS)}, "
                             f"got {action!r}")
        self.detector = detector
        self.action = action
        self.threshold = float(threshold)

    def check(self, image: Image.Image) -> FilterVerdict:
        """Run the detector on ``image``; a flagged picture comes back blurred or withheld.
        A detector that fails flags nothing and says so in the log (the image is kept)."""
        try:
            findings = [f for f in self.detector.detect(image) if f.score >= self.threshold]
        except Exception:  # noqa: BLE001 - a broken detector must not lose the picture
            log.exception("output filter %s failed; the image is kept unfiltered",
                          getattr(self.detector, "name", self.detector))
            return FilterVerdict(image)
        if not findings:
            return FilterVerdict(image)
        return FilterVerdict(self._hide(image), tuple(findings), self.action)

    def _hide(self, image: Image.Image) -> Image.Image:
        rgb = image.convert("RGB")
        if self.action == "withhold":
            return Image.new("RGB", rgb.size, (128, 128, 128))
        radius = max(8, max(rgb.size) // 16)
        # shrink first: a blur of this radius on the full picture costs seconds
        small = rgb.resize((max(1, rgb.width // 8), max(1, rgb.height // 8)), Image.BILINEAR)
        small = small.filter(ImageFilter.GaussianBlur(max(2, radius // 8)))
        return small.resize(rgb.size, Image.BILINEAR)

    def describe(self) -> str:
        return (f"output filter on: {getattr(self.detector, 'name', 'detector')}, "
                f"flagged pictures are {'blurred' if self.action == 'blur' else 'withheld'} "
                f"(score >= {self.threshold:g})")
