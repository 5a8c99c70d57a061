"""75-token chunks: BREAK, long prompts (never truncated), the token counter."""

from __future__ import annotations

import pytest

from webui.prompting.chunks import CHUNK, counting_tokenizer, framed_ids, token_count, \
    tokenize_weighted


@pytest.fixture(scope="module")
def tok():
    return counting_tokenizer()  # SDXL's real CLIP tokenizer, shipped with the package


def test_short_prompt_is_one_chunk_with_its_tokens(tok):
    (chunk,) = tokenize_weighted(tok, "a photo of a cat")
    assert chunk.tokens == tok("a photo of a cat", add_special_tokens=False)["input_ids"]
    assert chunk.weights == [1.0] * 5
    assert token_count("a photo of a cat") == (5, 75)


def test_long_prompt_gives_two_chunks_and_keeps_every_token(tok):
    words = " ".join(["cat"] * 100)  # 100 tokens, no commas
    chunks = tokenize_weighted(tok, words)
    assert [len(c.tokens) for c in chunks] == [75, 25]
    assert token_count(words) == (100, 150)


def test_comma_near_the_end_moves_the_phrase_to_the_next_chunk(tok):
    text = " ".join(["cat"] * 70) + ", " + " ".join(["dog"] * 10)
    chunks = tokenize_weighted(tok, text)
    comma = tok(",", add_special_tokens=False)["input_ids"][0]
    assert chunks[0].tokens[-1] == comma and len(chunks[0].tokens) == 71
    assert len(chunks[1].tokens) == 10 and sum(len(c.tokens) for c in chunks) == 81


def test_break_starts_a_new_chunk(tok):
    chunks = tokenize_weighted(tok, "a cat BREAK a dog")
    assert len(chunks) == 2
    assert tok.decode(chunks[1].tokens) == "a dog"
    assert token_count("a cat BREAK a dog") == (4, 150)


def test_weights_follow_their_tokens(tok):
    (chunk,) = tokenize_weighted(tok, "a (cat:1.5) [dog]")
    assert chunk.weights == pytest.approx([1.0, 1.5, 1 / 1.1])


def test_framed_chunk_is_77_ids(tok):
    ids, weights = framed_ids(tok, tokenize_weighted(tok, "a cat")[0])
    assert len(ids) == len(weights) == CHUNK + 2
    assert ids[0] == tok.bos_token_id and ids[3] == tok.eos_token_id
