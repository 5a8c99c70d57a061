"""The term index: every policy term (one word or several), with its plural forms, found in a
text's clauses by whole words in one pass.

Lookup is a dict access per word form, so the cost grows with the prompt's length, not with
the number of terms (``benchmarks/policy_bench.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from webui.policy.normalize import Clause

#: plurals that adding -s/-es does not make
IRREGULAR = {"child": ("children",), "man": ("men",), "woman": ("women",),
             "person": ("people",), "foot": ("feet",), "tooth": ("teeth",),
             "mouse": ("mice",), "goose": ("geese",), "wife": ("wives",),
             "knife": ("knives",), "wolf": ("wolves",), "life": ("lives",),
             "thief": ("thieves",), "penis": ("penes",)}
_VOWELS = set("aeiou")


def plurals(word: str) -> set[str]:
    """``word`` and the plural forms English makes of it: -s, -es, -y -> -ies, and the few
    irregular ones in ``IRREGULAR``. Words of two letters or fewer get none."""
    out = {word}
    if len(word) <= 2 or not word.isalpha():
        return out
    out.update(IRREGULAR.get(word, ()))
    if word.endswith(("s", "x", "z", "ch", "sh")):
        out.add(word + "es")
    else:
        out.add(word + "s")
    if word.endswith("y") and word[-2] not in _VOWELS:
        out.add(word[:-1] + "ies")
    if word.endswith("o"):
        out.add(word + "es")
    return out


@dataclass(frozen=True)
class Hit:
    """A term found: ``target`` (what the term stands for), ``term`` (as written in the
    policy), clause number and word span ``[start, end)``."""

    target: object
    term: str
    clause: int
    start: int
    end: int


class TermIndex:
    """Terms -> targets, matched by whole words (the last word in any plural form)."""

    def __init__(self):
        # first word -> [(following words, target, term)]
        self._first: dict[str, list[tuple[tuple[str, ...], object, str]]] = {}
        self.terms = 0

    def add(self, words: tuple[str, ...], target, term: str) -> None:
        """Index ``words`` (from ``term_words``) for ``target``; ``term`` is reported in hits."""
        if not words:
            return
        self.terms += 1
        for last in plurals(words[-1]):
            full = words[:-1] + (last,)
            self._first.setdefault(full[0], []).append((full[1:], target, term))

    def find(self, clauses: list[Clause]) -> list[Hit]:
        """Every hit in ``clauses``, in text order (a term spans words of one clause only)."""
        hits: list[Hit] = []
        first = self._first
        for c, clause in enumerate(clauses):
            words = clause.words
            n = len(words)
            for i, forms in enumerate(words):
                for form in forms:
                    entries = first.get(form)
                    if entries is None:
                        continue
                    for rest, target, term in entries:
                        k = len(rest)
                        if i + k < n and all(rest[j] in words[i + 1 + j] for j in range(k)):
                            hits.append(Hit(target, term, c, i, i + 1 + k))
        return hits
