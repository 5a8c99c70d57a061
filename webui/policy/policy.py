"""``PromptPolicy``: the operator's policy file, checked against prompts at every door.

The app context holds one (``ctx.policy``), read from ``--policy FILE`` or
``<data-dir>/policy.toml`` (seeded with the shipped ``default_policy.toml``). The file is read
again when it changes; a change that does not parse keeps the last good policy (and says so
in the log and in Settings). ``check`` is what every door calls: generation requests through
``webui.request.validate``, training captions and trigger words through the training service.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from webui.errors import RequestError
from webui.policy.rules import CompiledPolicy, Finding, PolicyError, PolicySpec, parse_policy

log = logging.getLogger(__name__)

SHIPPED_POLICY = Path(__file__).resolve().parent / "default_policy.toml"


class PromptBlocked(RequestError):
    """A prompt a block rule (or an artist's block entry) refuses; the message is the rule's.
    A ``RequestError``, so every door answers it as bad input (400, ``gr.Error``)."""

    def __init__(self, finding: Finding):
        super().__init__(finding.text())
        self.finding = finding
        self.rule_id = finding.rule_id


@dataclass(frozen=True)
class PolicyEvent:
    """One refusal or warning, as the log keeps it (the prompt only when the policy's
    ``log_prompts`` is on)."""

    owner: str
    door: str
    action: str
    rule_id: str
    prompt: str | None = None
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class PromptPolicy:
    """The prompt policy of one app: rules, artists' opt-outs and settings from one TOML file
    (or text, for a policy kept in memory)."""

    def __init__(self, path: Path | str | None = None, *, text: str | None = None):
        if (path is None) == (text is None):
            raise ValueError("give a policy file or a policy text")
        self.path = Path(path) if path is not None else None
        # where refusals and warnings are logged: ``record(PolicyEvent)`` and
        # ``recent(limit)`` (the app's is ``webui.history.policy_log.PolicyLog``)
        self.event_log = None
        self.lora_words: Callable[[str], list[str]] | None = None  # a LoRA's trigger words
        self.error: str | None = None  # why the file's last change was not taken
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        if text is None:
            text = self._read()
        self._set(text, parse_policy(text, self._source()))

    @classmethod
    def shipped(cls) -> PromptPolicy:
        """The shipped default policy, kept in memory (``save`` changes only the copy)."""
        return cls(text=SHIPPED_POLICY.read_text(encoding="utf-8"))

    @classmethod
    def for_app(cls, data_dir: Path | str, path: Path | str | None = None) -> PromptPolicy:
        """``path`` (``--policy FILE``: it must exist), else ``<data_dir>/policy.toml``,
        seeded with the shipped policy when missing. ``PolicyError`` when it cannot be used."""
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise PolicyError(f"policy file {path} not found (--policy)")
        else:
            path = Path(data_dir) / "policy.toml"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(SHIPPED_POLICY, path)
        return cls(path)

    # -- the file ------------------------------------------------------------------------------

    def _source(self) -> str:
        return f"policy file {self.path}" if self.path else "policy"

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read {self._source()}: {exc}") from None

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _set(self, text: str, spec: PolicySpec) -> None:
        self._text = text
        self._compiled = CompiledPolicy(spec)
        if self.path is not None:
            self._stamp = self._file_stamp()

    def _current(self) -> CompiledPolicy:
        """The compiled policy, read again first when the file changed."""
        if self.path is not None and self._file_stamp() != self._stamp:
            with self._lock:
                stamp = self._file_stamp()
                if stamp is not None and stamp != self._stamp:
                    try:
                        text = self._read()
                        self._set(text, parse_policy(text, self._source()))
                        self.error = None
                        log.info("prompt policy reloaded: %s", self._compiled.spec.summary())
                    except PolicyError as exc:
                        self._stamp = stamp  # said once, not at every prompt
                        self.error = f"{exc} (the previous policy stays in force)"
                        log.warning("%s", self.error)
        return self._compiled

    @property
    def spec(self) -> PolicySpec:
        return self._current().spec

    @property
    def check_negative(self) -> bool:
        """Whether negative prompts are checked too (``[settings] check_negative``)."""
        return self.spec.settings.check_negative

    def text(self) -> str:
        """The policy file's text, as the Settings tab edits it."""
        self._current()
        return self._text

    def save(self, text: str) -> PolicySpec:
        """Check ``text`` and make it the policy (written to the file, atomically);
        ``PolicyError`` with the problem, leaving the policy as it was."""
        spec = parse_policy(text, "the new policy")
        with self._lock:
            if self.path is not None:
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, self.path)
            self._set(text, spec)
            self.error = None
        log.info("prompt policy saved: %s", spec.summary())
        return spec

    # -- checking ------------------------------------------------------------------------------

    def evaluate(self, texts: list[str]) -> list[Finding]:
        """What the policy says of ``texts`` (each checked on its own), blocks first, each
        rule once. Logs nothing, raises nothing: the Settings tab's "check this prompt"."""
        compiled = self._current()
        found: dict[str, Finding] = {}
        for text in texts:
            if not isinstance(text, str) or not text:
                continue
            for finding in compiled.findings(text, self.lora_words):
                found.setdefault(finding.rule_id, finding)
        return sorted(found.values(), key=lambda f: f.action != "block")

    def check(self, texts: list[str], *, owner: str, door: str) -> list[str]:
        """Check ``texts`` for ``owner`` at ``door`` ("ui", "a1111", "stability",
        "training", ...): raise ``PromptBlocked`` (the first block rule's message) or return
        the warnings to show. The refusal (or else each warning) is logged (``event_log``)."""
        findings = self.evaluate(texts)
        blocks = [f for f in findings if f.action == "block"]
        if blocks:
            findings = blocks[:1]  # the refusal is what happened; its warnings are moot
        if findings and self.event_log is not None:
            prompt = "\n".join(t for t in texts if isinstance(t, str)) \
                if self.spec.settings.log_prompts else None
            for finding in findings:
                try:
                    self.event_log.record(PolicyEvent(owner or "local", door, finding.action,
                                                      finding.rule_id, prompt))
                except Exception:  # noqa: BLE001 - a log that fails must not open the door
                    log.exception("could not log a prompt-policy %s", finding.action)
        if blocks:
            log.info("prompt blocked by rule %s (%s, %s)", blocks[0].rule_id, owner, door)
            raise PromptBlocked(blocks[0])
        return [f.text() for f in findings]

    def recent_events(self, limit: int = 200) -> list[PolicyEvent]:
        """The log's newest events, newest first (none without a log)."""
        return self.event_log.recent(limit) if self.event_log is not None else []
