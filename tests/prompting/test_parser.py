"""A1111 prompt syntax against its documented semantics (wiki "Attention/emphasis")."""

from __future__ import annotations

import pytest

from webui.prompting.parser import parse_prompt_attention


def approx(fragments):
    return [(t, pytest.approx(w)) for t, w in fragments]


@pytest.mark.parametrize("text, expected", [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("((word))", [("word", 1.1 * 1.1)]),
    ("(((word)))", [("word", 1.1 ** 3)]),
    ("[word]", [("word", 1 / 1.1)]),
    ("[[word]]", [("word", 1 / 1.1 / 1.1)]),
    ("(word:1.3)", [("word", 1.3)]),
    ("(word:0.5)", [("word", 0.5)]),
    ("(a (b:1.5))", [("a ", 1.1), ("b", 1.5 * 1.1)]),  # explicit weight inside () multiplies
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("a (b\\)c) d", [("a ", 1.0), ("b)c", 1.1), (" d", 1.0)]),
    ("(cat:1.2), [dog]", [("cat", 1.2), (", ", 1.0), ("dog", 1 / 1.1)]),
    ("a BREAK b", [("a", 1.0), ("BREAK", -1.0), ("b", 1.0)]),
    ("a BREAKING b", [("a BREAKING b", 1.0)]),  # only the word on its own
    ("<lora:name:0.8> cat", [("<lora:name:0.8> cat", 1.0)]),
    ("", [("", 1.0)]),
])
def test_a1111_emphasis(text, expected):
    assert parse_prompt_attention(text) == approx(expected)


def test_explicit_weight_replaces_the_1_1_of_its_own_bracket():
    (frag,) = parse_prompt_attention("(word:1.5)")
    assert frag[1] == pytest.approx(1.5)  # not 1.5 * 1.1
