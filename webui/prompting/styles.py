"""Prompt styles: named prompt/negative templates from a user-editable CSV file.

The file has A1111's ``styles.csv`` columns ``name,prompt,negative_prompt``. A template holding
``{prompt}`` has the user's prompt put in its place; one without it is appended after a comma
(A1111's rule). The package ships Stability's 17 SDXL presets (``sdxl_styles.csv``); the app
copies them to ``<data-dir>/styles.csv`` on first start, where the user edits them (the file
is read again when it changes). The app context holds the one library; validation resolves a
request's style names into their templates, which the engine applies.
"""

from __future__ import annotations

import csv
import re
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

    @classmethod
    def in_data_dir(cls, data_dir: Path | str) -> StyleLibrary:
        """``<data_dir>/styles.csv``, seeded with the shipped presets when it is missing."""
        path = Path(data_dir) / "styles.csv"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SHIPPED_STYLES, path)
        return cls(path)

    def templates(self, names: list[str]) -> list[tuple[str, str]]:
        """The (prompt, negative prompt) templates of ``names``, in order (``KeyError`` for an
        unknown name)."""
        known = self.styles()
        return [(known[n].prompt, known[n].negative_prompt) for n in names or []]

    def apply(self, prompt: str, negative: str, names: list[str]) -> tuple[str, str]:
        """``prompt``/``negative`` with the styles ``names`` applied in order."""
        return apply_style_texts(prompt, negative, self.templates(names))


def apply_style_texts(prompt: str, negative: str,
                      templates: list[tuple[str, str]]) -> tuple[str, str]:
    """``prompt``/``negative`` with each (prompt, negative) template applied in order."""
    for p_template, n_template in templates or []:
        prompt = _merge(p_template, prompt)
        negative = _merge(n_template, negative)
    return prompt, negative


def _unmerge(template: str, text: str) -> str | None:
    """The text ``_merge(template, ·)`` turned into ``text``; None when it cannot have."""
    if not template:
        return text
    if "{prompt}" in template:
        parts = template.split("{prompt}")
        # every "{prompt}" holds the same text: the first is captured, the others must repeat it
        pattern = (re.escape(parts[0]) + "(?P<p>.*)"
                   + "(?P=p)".join(re.escape(part) for part in parts[1:]))
        match = re.fullmatch(pattern, text, flags=re.DOTALL)
        return match.group("p") if match else None
    if text == template:
        return ""
    tail = f", {template}"
    return text[:-len(tail)] if text.endswith(tail) else None


def extract_styles(prompt: str, negative: str, styles: dict[str, Style],
                   names: list[str] | None = None) -> tuple[str, str, list[str]]:
    """Undo styles that were applied to ``prompt``/``negative`` (A1111's "extract styles
    from prompt"): ``(prompt, negative, style names)`` with the styles' texts removed and
    the names in the order they were applied.

    With ``names`` (an infotext's ``Styles``), only those styles are tried, last applied
    first; a style whose text is not found (edited since, or not in ``styles``) is left in
    the text and not returned. Without ``names``, any style whose prompt and negative
    templates both match is taken off, as long as one does.
    """
    found: list[str] = []
    if names is not None:
        for name in reversed(names):
            style = styles.get(name)
            undone = _undo(style, prompt, negative) if style is not None else None
            if undone is not None:
                (prompt, negative), found = undone, [name, *found]
        return prompt, negative, found
    while True:
        for name, style in styles.items():
            if name in found or not (style.prompt or style.negative_prompt):
                continue
            undone = _undo(style, prompt, negative)
            if undone is not None and undone != (prompt, negative):
                (prompt, negative), found = undone, [name, *found]
                break
        else:
            return prompt, negative, found


def _undo(style: Style, prompt: str, negative: str) -> tuple[str, str] | None:
    p, n = _unmerge(style.prompt, prompt), _unmerge(style.negative_prompt, negative)
    return None if p is None or n is None else (p, n)
