"""Prompt text as the policy sees it: clauses of words, each word in the forms people write it.

What is seen through, in order:

* A1111 prompt syntax: ``<lora:name:0.8>`` (its name becomes words of a clause of its own,
  and is reported as a LoRA name), ``BREAK`` (a clause boundary), weights and step numbers
  (``(term:1.3)``, ``[a:b:0.5]``), brackets, ``|`` and ``:`` (word boundaries, so both sides
  of ``[a|b]`` and ``[a:b:0.5]`` are read);
* Unicode: NFKC (full-width and other compatibility forms), case (casefold), diacritics and
  other combining marks, zero-width and other format characters, a few look-alike letters
  from Cyrillic and Greek;
* underscores and hyphens (``nude_child``, ``half-naked``): word boundaries;
* simple leetspeak: ``0→o 1→i 3→e 4→a 5→s 7→t @→a $→s`` inside a word; a word with digits
  at its ends is also read without them (``1girl`` is also ``girl``);
* letters spelled out one by one (``s e x``, ``s.e.x``): also read as one word.

Plurals are the term index's business (``webui.policy.matcher``), not this module's.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

#: leetspeak digits and symbols -> letters (only inside a word that is not all digits)
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                      "@": "a", "$": "s"})
#: letters NFKD does not take apart, and look-alike letters of other scripts
_LOOKALIKES = str.maketrans({
    "ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "ŧ": "t", "æ": "ae", "œ": "oe",
    "þ": "th", "ð": "d",
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "ɡ": "g", "ԛ": "q", "ԝ": "w",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x",
})
_DROP = {"Mn", "Me", "Cf"}  # combining marks, enclosing marks, zero-width/format characters

_LORA = re.compile(r"<\s*(?:lora|lyco|locon|hypernet)\s*:([^:>]*)(?::[^>]*)?>", re.I)
_BREAK = re.compile(r"\bBREAK\b")  # case-sensitive, as A1111 reads it
_WEIGHT = re.compile(r":\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*(?=[)\]:>]|$)")
_CLAUSE = re.compile(r"[,;\n!?\u3001\u3002\uff0c]+")
_WORD = re.compile(r"(?:[^\W_]|[@$])+")
_EDGE = "0123456789@$"


@dataclass(frozen=True)
class Clause:
    """One comma-separated part of a text: its words, each a tuple of the forms it may be
    read as (the first is the leetspeak reading). ``lora``: this clause is a LoRA's name."""

    words: tuple[tuple[str, ...], ...]
    lora: bool = False


def fold(text: str) -> str:
    """Case, compatibility forms, diacritics, zero-width characters and look-alike letters
    folded away (A1111 syntax untouched)."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text).casefold()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if unicodedata.category(c) not in _DROP)
    return text.translate(_LOOKALIKES)


@lru_cache(maxsize=65536)  # prompts repeat their words; a hit costs less than the work
def word_forms(word: str) -> tuple[str, ...]:
    """The readings of one folded word: leetspeak mapped, and without digits or symbols at
    its ends (``4ss`` -> ``ass``, ``ss``; ``1girl`` -> ``igirl``, ``girl``)."""
    if word.isdigit():
        return (word,)
    leet = word.translate(LEET)
    bare = word.strip(_EDGE)
    if bare and bare != leet:
        return (leet, bare)
    return (leet,)


def _words(text: str) -> list[tuple[str, ...]]:
    raw = _WORD.findall(text)
    words = [word_forms(w) for w in raw]
    if sum(len(w) == 1 for w in raw) >= 3:
        words = _join_spelled(words)
    return words


def _join_spelled(words: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """In a run of three or more one-letter words (``a s e x y``), each stretch of three or
    more letters gets its joined reading added to its first word (``sex``, ``sexy``,
    ``asex``...); the run still reads letter by letter too."""
    out = list(words)
    i = 0
    while i < len(words):
        j = i
        while j < len(words) and j - i < 24 and len(words[j][0]) == 1 \
                and words[j][0].isalpha():
            j += 1
        if j - i >= 3:
            letters = [w[0] for w in words[i:j]]
            for s in range(j - i - 2):
                out[i + s] = out[i + s] + tuple("".join(letters[s:e])
                                                for e in range(s + 3, j - i + 1))
        i = max(j, i + 1)
    return out


def clauses(text: str) -> tuple[list[Clause], list[str]]:
    """``text`` -> (its clauses, the LoRA names it tags). LoRA names are read as clauses of
    their own (``jane_doe_style`` -> ``jane doe style``), marked ``lora``."""
    loras: list[str] = []

    def lora(m: re.Match) -> str:
        loras.append(m.group(1).strip())
        return ","

    text = _LORA.sub(lora, text or "")
    text = _BREAK.sub(",", text)
    text = _WEIGHT.sub(" ", text)
    out = [Clause(tuple(words)) for part in _CLAUSE.split(fold(text))
           if (words := _words(part))]
    out += [Clause(tuple(words), lora=True) for name in loras if (words := _words(fold(name)))]
    return out, loras


def term_words(term: str) -> tuple[str, ...]:
    """A policy term as the words it matches (each word's leetspeak reading): ``"Nude_Child"``
    -> ``("nude", "child")``; empty when it has no letters or digits."""
    return tuple(word_forms(w)[0] for w in _WORD.findall(fold(term)))
