"""The README's install, test and weights commands are the ones that work: CI runs the same
install lines, user and test dependencies are apart, and the weights commands fit the pinned
``huggingface_hub``'s ``hf`` command."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TEST_TOOLS = ("pytest", "playwright", "schemathesis", "webuiapi")


def section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


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


def test_venv_comes_first_and_ci_runs_the_readme_installs():
    install = commands(section("Install and run"))
    assert install[0].startswith("python -m venv ")
    assert install.index("pip install -r requirements.txt") > 0
    tests = commands(section("Run the tests"))
    assert tests == ["pip install -r requirements.txt -r requirements-test.txt",
                     "python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    for line in ("python3 -m venv .venv", "pip install -r requirements.txt",
                 tests[0], "python -m pytest"):
        assert line in ci, line


def test_user_requirements_hold_no_test_tools():
    user, test = pins("requirements.txt"), pins("requirements-test.txt")
    assert not set(TEST_TOOLS) & set(user)
    assert set(TEST_TOOLS) <= set(test)
    assert not set(user) & set(test)  # each pinned once
    assert user["torch"] == "2.13.0" and "huggingface_hub" in user


def test_weights_commands_fit_the_pinned_hf_cli():
    """``hf download REPO [FILES] [--include P]... [--exclude P]... --local-dir DIR``: the
    command the pinned huggingface_hub installs (no ``huggingface-cli``), one pattern a flag."""
    import importlib.metadata

    assert importlib.metadata.version("huggingface_hub") == pins(
        "requirements.txt")["huggingface_hub"]
    weights = section("Getting SDXL weights")
    assert "huggingface-cli download" not in README
    lines = [ln for ln in commands(weights) if ln.startswith("hf ")]
    lines += re.findall(r"`(hf download [^`]+)`", weights)
    assert len(lines) >= 4
    files = set()
    for line in lines:
        argv = shlex.split(line)
        assert argv[:2] == ["hf", "download"] and "/" in argv[2]
        i = 3
        while i < len(argv):
            if argv[i] in ("--include", "--exclude", "--local-dir"):
                assert i + 1 < len(argv) and not argv[i + 1].startswith("--"), line
                if i + 2 < len(argv):  # a second pattern after one flag is read as a file
                    assert argv[i + 2].startswith("--"), line
                i += 2
            else:
                assert not argv[i].startswith("--"), line
                files.add(argv[i])
                i += 1
    assert {"sd_xl_base_1.0.safetensors", "sd_xl_refiner_1.0.safetensors"} <= files
    # the one-file route comes first, the folder route after it
    assert weights.index("sd_xl_base_1.0.safetensors") < weights.index(
        "hf download stabilityai/stable-diffusion-xl-base-1.0 --include")


def test_quick_look_installs_the_shipped_demo_model(tmp_path):
    """The README's quick look runs the demo model's real ``install`` into ``models`` (the
    default --models-dir), then the app."""
    import subprocess
    import sys

    quick = README.split("### A quick look without weights", 1)[1].split("\n## ", 1)[0]
    lines = commands(quick)
    assert lines[:2] == ["python -m webui.testing.demo_model install models",
                         "python launch.py"]
    argv = shlex.split(lines[0])[1:-1] + [str(tmp_path / "models")]
    out = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "models/Stable-diffusion/sdxl-demo-shapes/model_index.json").is_file()
