"""The optional extras are installed the way the README says, and CI runs those lines, so
the C2PA and NudeNet tests run there; one OpenCV for the whole project."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands(text: str) -> list[str]:
    """The lines of the ```bash blocks of ``text``, comments left out."""
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    lines = [ln.split("#", 1)[0].strip() for b in blocks for ln in b.splitlines()]
    return [ln for ln in lines if ln]


def pins(name: str) -> dict[str, str]:
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            pkg, version = line.split("==")
            found[pkg.split("[")[0].lower()] = version
    return found


def test_ci_installs_the_readme_extras():
    extras = README.split("### Optional extras\n", 1)[1].split("\n## ", 1)[0]
    lines = commands(extras)
    assert lines == ["pip install -r requirements-extras.txt",
                     "pip install --no-deps nudenet==3.4.2"]
    ci = (ROOT / ".ci" / "run").read_text()
    for line in lines:
        assert line in ci, line
    # the extras come after the app's requirements, before the tests
    assert ci.index("pip install -r requirements.txt\n") < ci.index(lines[0]) < \
        ci.index("python -m pytest")


def test_one_opencv_and_pins_apart():
    user, extras = pins("requirements.txt"), pins("requirements-extras.txt")
    assert {"invisible-watermark", "opencv-python", "pywavelets"} <= set(user)
    assert not set(user) & set(extras)  # each pinned once
    every = set(user) | set(extras) | set(pins("requirements-test.txt"))
    assert not {"opencv-python-headless", "opencv-contrib-python",
                "opencv-contrib-python-headless", "nudenet"} & every
    assert {"c2pa-python", "onnxruntime", "cryptography"} <= set(extras)
