"""AUTOMATIC1111's prompt-emphasis syntax, parsed into ``(text, weight)`` fragments.

Semantics (A1111 wiki, "Attention/emphasis"):

* ``(word)`` multiplies the weight of ``word`` by 1.1; ``((word))`` by 1.1 * 1.1.
* ``[word]`` divides it by 1.1.
* ``(word:1.3)`` multiplies it by 1.3 (inside other brackets the factors still multiply).
* ``\\(``, ``\\)``, ``\\[``, ``\\]`` and ``\\\\`` are literal characters.
* An unbalanced opening bracket applies to the rest of the prompt; an unbalanced closing one
  stays in the text.
* ``BREAK`` (upper case, a word on its own) ends the current 75-token chunk; it is returned
  as the fragment ``("BREAK", -1)``.

Anything else (including ``<lora:name:0.8>`` tags) is kept as plain text.
"""

from __future__ import annotations

import re

ROUND = 1.1
SQUARE = 1 / 1.1
BREAK = ("BREAK", -1.0)

_TOKEN = re.compile(
    r"""
    \\[()\[\]\\]            # escaped bracket or backslash
  | \\                      # lone backslash
  | \(                      # open round
  | \[                      # open square
  | :\s*([+-]?[.\d]+)\s*\)  # :weight)
  | \)                      # close round
  | \]                      # close square
  | [^\\()\[\]:]+           # plain text
  | :                       # a colon that is not a weight
    """,
    re.X,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse_prompt_attention(text: str) -> list[tuple[str, float]]:
    """Split ``text`` into ``(text, weight)`` fragments following A1111's rules.

    >>> parse_prompt_attention("a (b:1.5) [c]")
    [('a ', 1.0), ('b', 1.5), (' ', 1.0), ('c', 0.9090909090909091)]
    """
    res: list[list] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply_from(start: int, factor: float) -> None:
        for frag in res[start:]:
            frag[1] *= factor

    for m in _TOKEN.finditer(text):
        tok, weight = m.group(0), m.group(1)
        if tok.startswith("\\"):
            res.append([tok[1:], 1.0])  # a lone backslash is dropped, as in A1111
        elif tok == "(":
            round_open.append(len(res))
        elif tok == "[":
            square_open.append(len(res))
        elif weight is not None and round_open:
            try:
                factor = float(weight)
            except ValueError:  # "1.2.3" is not a number: keep it as text
                res.append([tok, 1.0])
                continue
            multiply_from(round_open.pop(), factor)
        elif tok == ")" and round_open:
            multiply_from(round_open.pop(), ROUND)
        elif tok == "]" and square_open:
            multiply_from(square_open.pop(), SQUARE)
        else:  # text, or an unmatched ")", "]" or ":1.2)": kept as written, as A1111 does
            for i, part in enumerate(_BREAK.split(tok)):
                if i > 0:
                    res.append(list(BREAK))
                res.append([part, 1.0])

    for start in round_open:
        multiply_from(start, ROUND)
    for start in square_open:
        multiply_from(start, SQUARE)

    res = [frag for frag in res if frag[0] or frag[1] == BREAK[1]]
    if not res:
        return [("", 1.0)]
    merged: list[list] = [res[0]]
    for frag in res[1:]:
        if frag[1] == merged[-1][1] and frag[1] != BREAK[1]:
            merged[-1][0] += frag[0]
        else:
            merged.append(frag)
    return [(t, w) for t, w in merged]
