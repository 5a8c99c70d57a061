"""Prompt styles: named prompt/negative templates from a user-editable CSV file.

The file has A1111's ``styles.csv`` columns ``name,prompt,negative_prompt``. A template holding
``{prompt}`` has the user's prompt put in its place; one without it is appended after a comma
(A1111's rule). The package ships Stability's 17 SDXL presets (``sdxl_styles.csv``); the app
copies them to ``<data-dir>/styles.csv`` on first start, where the user edits them (the file
is read again when it changes).
"""

from __future__ import annotations

import csv
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SHIPPED_STYLES = Path(__file__).resolve().parent / "sdxl_styles.csv"


@dataclass(frozen=True)
class Style:
    name: str
    prompt: str = ""
    negative_prompt: str = ""


def _merge(template: str, text: str) -> str:
    if not template:
        return text
    if "{prompt}" in template:
        return template.replace("{prompt}", text)
    return f"{text}, {template}" if text else template


class StyleLibrary:
    """The styles of one CSV file, reloaded when the file changes."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._mtime: float | None = None
        self._styles: dict[str, Style] = {}

    def styles(self) -> dict[str, Style]:
        """Name -> style, in file order (an unreadable file gives the last good list)."""
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            log.warning("styles file %s not found", self.path)
            return self._styles
        if mtime != self._mtime:
            try:
                with self.path.open(newline="", encoding="utf-8-sig") as f:
                    rows = list(csv.DictReader(f))
                self._styles = {r["name"].strip(): Style(r["name"].strip(), r.get("prompt") or "",
                                                         r.get("negative_prompt") or "")
                                for r in rows if (r.get("name") or "").strip()}
                self._mtime = mtime
            except (OSError, csv.Error, KeyError, UnicodeDecodeError) as exc:
                log.warning("cannot read styles file %s: %s", self.path, exc)
        return self._styles

    def names(self) -> list[str]:
        return list(self.styles())

    def apply(self, prompt: str, negative: str, names: list[str]) -> tuple[str, str]:
        """``prompt``/``negative`` with the styles ``names`` applied in order."""
        known = self.styles()
        for name in names or []:
            style = known.get(name)
            if style is None:
                raise KeyError(name)
            prompt = _merge(style.prompt, prompt)
            negative = _merge(style.negative_prompt, negative)
        return prompt, negative


_library = StyleLibrary(SHIPPED_STYLES)


def use_styles_file(path: Path | str) -> StyleLibrary:
    """Make ``path`` the styles file (copying the shipped presets there if it is missing)."""
    global _library
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHIPPED_STYLES, path)
    _library = StyleLibrary(path)
    return _library


def style_library() -> StyleLibrary:
    """The styles file in use."""
    return _library


def apply_styles(prompt: str, negative: str, styles: list[str]) -> tuple[str, str]:
    """Return the prompt and negative prompt with ``styles`` applied (unknown names raise
    ``KeyError``; requests are validated against :func:`style_library` first)."""
    return _library.apply(prompt, negative, styles)
