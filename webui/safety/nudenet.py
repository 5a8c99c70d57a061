"""NudeNet as an output-filter detector (``--safety-checker`` / ``--safety-checker nudenet``).

NudeNet's detector is a small YOLO ONNX model (``320n.onnx``, 12 MB) shipped inside its
wheel and run with ``onnxruntime`` on the CPU, offline. The package's code says MIT in its
metadata, but its wheel's licence file (which covers the model) is the GNU AGPL-3.0: it is an
optional extra, installed only by an operator who accepts that (``requirements-extras.txt``;
``pip install --no-deps nudenet``, so that its ``opencv-python-headless`` requirement does
not add a second OpenCV beside the ``opencv-python`` that ``invisible-watermark`` brings).

Flagged labels: exposed breasts, genitalia, buttocks and anus (NudeNet also reports faces,
feet, covered parts, ...; those never flag).
"""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from webui.safety.filter import Finding

#: NudeNet labels that flag a picture
FLAGGED = frozenset({
    "FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED",
    "BUTTOCKS_EXPOSED", "ANUS_EXPOSED",
})
INSTALL = "pip install onnxruntime && pip install --no-deps nudenet==3.4.2"


class NudeNetDetector:
    """NudeNet's ``NudeDetector`` behind :class:`webui.safety.Detector`."""

    name = "NudeNet"

    def __init__(self, flagged: frozenset[str] = FLAGGED):
        try:
            from nudenet import NudeDetector
        except Exception as exc:  # noqa: BLE001 - ImportError, onnxruntime/cv2 missing
            raise RuntimeError("--safety-checker needs NudeNet, an optional extra (AGPL-3.0): "
                               f"{INSTALL} ({exc})") from None
        self._detector = NudeDetector()
        self._lock = threading.Lock()  # one onnxruntime session, used one call at a time
        self.flagged = flagged

    def detect(self, image: Image.Image) -> list[Finding]:
        # NudeNet reads an OpenCV picture and converts RGBA -> BGR itself
        array = np.ascontiguousarray(np.asarray(image.convert("RGBA"), dtype=np.uint8))
        with self._lock:
            found = self._detector.detect(array)
        return [Finding(d["class"], float(d["score"]), tuple(int(v) for v in d["box"]))
                for d in found if d.get("class") in self.flagged]
