"""The policy file's format (TOML), read into rules and artists with plain error messages, and
compiled into one term index that finds every rule's and artist's words in one pass.

```toml
[settings]
check_negative = false   # also check the negative prompt
log_prompts = false      # keep the prompt text in the log of refusals and warnings

[[rule]]
id = "minors-sexual"
action = "block"          # or "warn"
terms = ["nude", "naked"] # any of these...
with = ["child", "kid"]   # ...together with any of these (optional; a list of lists for
                          # several groups: all groups must match)
message = "Sexual content involving minors is not allowed."

[[artist]]                # an artist who asked not to be imitated
name = "Jane Doe"
aliases = ["j. doe"]
action = "block"          # or "warn"
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass

from webui.policy.matcher import Hit, TermIndex
from webui.policy.normalize import Clause, clauses, term_words

ACTIONS = ("block", "warn")
#: words before an artist's name, in the same clause, that invoke their style
#: ("by X", "art by X", "in the style of X", "in the manner of X", "artist X")
CUES_BEFORE = ("by", "style of", "manner of", "art of", "artist", "a la", "vein of")
#: words just after the name (at most one word between): "X style", "X's style", "X art"
CUES_AFTER = ("style", "styled", "art", "artwork", "esque", "aesthetic", "inspired")

_RULE_KEYS = {"id", "action", "terms", "with", "message"}
_ARTIST_KEYS = {"name", "aliases", "action", "message", "anywhere"}
_SETTING_KEYS = {"check_negative", "log_prompts"}


class PolicyError(ValueError):
    """A policy file that cannot be used; the message says where and what to change."""


@dataclass(frozen=True)
class Rule:
    id: str
    action: str
    groups: tuple[tuple[str, ...], ...]  # ``terms``, then each ``with`` group
    message: str


@dataclass(frozen=True)
class Artist:
    name: str
    aliases: tuple[str, ...]
    action: str
    message: str
    anywhere: bool = False  # the bare name matches too, without "by"/"style"

    @property
    def id(self) -> str:
        return f"artist:{self.name}"


@dataclass(frozen=True)
class PolicySettings:
    check_negative: bool = False
    log_prompts: bool = False


@dataclass(frozen=True)
class Finding:
    """A rule (or artist entry) a text matched: its id, action, message and the terms seen."""

    rule_id: str
    action: str
    message: str
    words: tuple[str, ...] = ()

    def text(self) -> str:
        """What the user is told: the message, then the rule and the words that matched."""
        seen = " + ".join(f'"{w}"' for w in self.words)
        return f"{self.message} (rule {self.rule_id}{': ' + seen if seen else ''})"


@dataclass(frozen=True)
class PolicySpec:
    rules: tuple[Rule, ...] = ()
    artists: tuple[Artist, ...] = ()
    settings: PolicySettings = PolicySettings()

    def summary(self) -> str:
        terms = sum(len(g) for r in self.rules for g in r.groups)
        blocks = sum(r.action == "block" for r in self.rules)
        return (f"{len(self.rules)} rules ({blocks} block, {len(self.rules) - blocks} warn), "
                f"{terms} terms, {len(self.artists)} artists")


# -- reading ----------------------------------------------------------------------------------

def _strings(where: str, key: str, value, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}: {key} must be a list of strings, e.g. {key} = [\"a\", \"b\"]")
    if not value and not allow_empty:
        raise PolicyError(f"{where}: {key} is empty")
    for v in value:
        if not term_words(v):
            raise PolicyError(f"{where}: {key} holds {v!r}, which has no letters or digits")
    return tuple(value)


def _keys(where: str, entry, known: set[str]) -> None:
    if not isinstance(entry, dict):
        raise PolicyError(f"{where} must be a table")
    unknown = sorted(set(entry) - known)
    if unknown:
        raise PolicyError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(known))})")


def _action(where: str, entry: dict, default: str | None = None) -> str:
    action = entry.get("action", default)
    if action not in ACTIONS:
        raise PolicyError(f"{where}: action must be \"block\" or \"warn\", got {action!r}")
    return action


def _tables(data: dict, key: str) -> list:
    value = data.get(key, [])
    if isinstance(value, dict):
        raise PolicyError(f"write [[{key}]] (two brackets) for each {key}, not [{key}]")
    if not isinstance(value, list):
        raise PolicyError(f"{key} must be a list of tables: [[{key}]]")
    return value


def _rule(i: int, entry) -> Rule:
    where = f"[[rule]] number {i + 1}"
    rid = entry.get("id") if isinstance(entry, dict) else None
    if isinstance(rid, str) and rid.strip():
        rid = rid.strip()
        where = f"rule {rid!r}"
    _keys(where, entry, _RULE_KEYS)
    if not isinstance(rid, str) or not rid:
        raise PolicyError(f"{where}: id is missing (a short name such as \"minors-sexual\")")
    action = _action(where, entry)
    if "terms" not in entry:
        raise PolicyError(f"{where}: terms is missing")
    groups = [_strings(where, "terms", entry["terms"])]
    with_ = entry.get("with")
    if with_ is not None:
        if isinstance(with_, list) and with_ and all(isinstance(g, list) for g in with_):
            groups += [_strings(where, "with", g) for g in with_]
        else:
            groups.append(_strings(where, "with", with_))
    message = entry.get("message")
    if message is None:
        message = ("This prompt is not allowed on this server." if action == "block"
                   else "This prompt matches the server's list of sensitive terms.")
    if not isinstance(message, str) or not message.strip():
        raise PolicyError(f"{where}: message must be text")
    return Rule(rid, action, tuple(groups), message.strip())


def _artist(i: int, entry) -> Artist:
    where = f"[[artist]] number {i + 1}"
    _keys(where, entry, _ARTIST_KEYS)
    name = entry.get("name")
    if not isinstance(name, str) or not term_words(name):
        raise PolicyError(f"{where}: name is missing")
    name = name.strip()
    where = f"artist {name!r}"
    action = _action(where, entry, "block")
    aliases = _strings(where, "aliases", entry.get("aliases", []), allow_empty=True)
    anywhere = entry.get("anywhere", False)
    if not isinstance(anywhere, bool):
        raise PolicyError(f"{where}: anywhere must be true or false")
    message = entry.get("message") or (
        f"{name} has asked not to be imitated: leave their name out of the prompt."
        if action == "block" else
        f"{name} has asked not to be imitated; please leave their name out of the prompt.")
    if not isinstance(message, str):
        raise PolicyError(f"{where}: message must be text")
    return Artist(name, aliases, action, message.strip(), anywhere)


def parse_policy(text: str, source: str = "policy") -> PolicySpec:
    """The policy in ``text`` (TOML); ``PolicyError`` naming ``source`` and the problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source} is not valid TOML: {exc}") from None
    try:
        unknown = sorted(set(data) - {"rule", "artist", "settings"})
        if unknown:
            raise PolicyError(f"unknown table {unknown[0]!r}: a policy holds [settings], "
                              "[[rule]] and [[artist]] entries")
        rules = tuple(_rule(i, e) for i, e in enumerate(_tables(data, "rule")))
        artists = tuple(_artist(i, e) for i, e in enumerate(_tables(data, "artist")))
        seen: set[str] = set()
        for rid in [r.id for r in rules] + [a.id for a in artists]:
            if rid in seen:
                raise PolicyError(f"{rid!r} is there twice; each rule id and artist name once")
            seen.add(rid)
        raw = data.get("settings", {})
        _keys("[settings]", raw, _SETTING_KEYS)
        for key, value in raw.items():
            if not isinstance(value, bool):
                raise PolicyError(f"[settings]: {key} must be true or false")
        return PolicySpec(rules, artists, PolicySettings(**raw))
    except PolicyError as exc:
        raise PolicyError(f"{source}: {exc}") from None


# -- matching ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Target:
    kind: str  # "rule" | "artist" | "before" | "after"
    index: int = 0
    group: int = 0


_BEFORE, _AFTER = _Target("before"), _Target("after")


class CompiledPolicy:
    """A ``PolicySpec`` with all its terms in one ``TermIndex``."""

    def __init__(self, spec: PolicySpec):
        self.spec = spec
        self.index = TermIndex()
        for r, rule in enumerate(spec.rules):
            for g, group in enumerate(rule.groups):
                for term in group:
                    self.index.add(term_words(term), _Target("rule", r, g), term)
        for a, artist in enumerate(spec.artists):
            for name in (artist.name, *artist.aliases):
                words = term_words(name)
                self.index.add(words, _Target("artist", a), name)
                if len(words) > 1:  # "janedoe", as in a LoRA's or a tag's name
                    self.index.add(("".join(words),), _Target("artist", a), name)
        if spec.artists:
            for cue in CUES_BEFORE:
                self.index.add(term_words(cue), _BEFORE, cue)
            for cue in CUES_AFTER:
                self.index.add(term_words(cue), _AFTER, cue)

    def findings(self, text: str,
                 lora_words: Callable[[str], list[str]] | None = None) -> list[Finding]:
        """The rules and artist entries ``text`` matches, in policy order. ``lora_words``
        gives a tagged LoRA's trigger words, read for artists' names."""
        found, loras = clauses(text)
        hits = self.index.find(found)
        out = self._rule_findings(hits)
        if self.spec.artists:
            named = self._artists_named(found, hits)
            if lora_words is not None:
                for name in loras:
                    words = [w for w in lora_words(name) or [] if isinstance(w, str)]
                    trigger = [Clause(c.words, lora=True) for c in clauses(", ".join(words))[0]]
                    named.update(self._artists_named(trigger, self.index.find(trigger)))
            for a, artist in enumerate(self.spec.artists):
                if a in named:
                    out.append(Finding(artist.id, artist.action, artist.message, (named[a],)))
        return out

    def _rule_findings(self, hits: list[Hit]) -> list[Finding]:
        seen: dict[int, dict[int, str]] = {}
        for hit in hits:
            t = hit.target
            if t.kind == "rule":
                seen.setdefault(t.index, {}).setdefault(t.group, hit.term)
        out = []
        for r in sorted(seen):
            rule = self.spec.rules[r]
            groups = seen[r]
            if len(groups) == len(rule.groups):
                out.append(Finding(rule.id, rule.action, rule.message,
                                   tuple(groups[g] for g in range(len(rule.groups)))))
        return out

    def _artists_named(self, found: list[Clause], hits: list[Hit]) -> dict[int, str]:
        """{artist index: name as written} for the artists ``hits`` invoke: in a LoRA's name
        or trigger words, with a cue word, or anywhere when the entry says so."""
        named: dict[int, str] = {}
        for hit in hits:
            if hit.target.kind != "artist" or hit.target.index in named:
                continue
            artist = self.spec.artists[hit.target.index]
            if found[hit.clause].lora or artist.anywhere or any(
                    cue.clause == hit.clause and (
                        (cue.target == _BEFORE and cue.end <= hit.start)
                        or (cue.target == _AFTER and 0 <= cue.start - hit.end <= 1))
                    for cue in hits):
                named[hit.target.index] = hit.term
        return named
