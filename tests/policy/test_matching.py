"""The policy's matching on the prompt table (issue 15 item 2), on the real policy object with
the shipped policy file: whole words, evasions seen through, no false alarms."""

from __future__ import annotations

import pytest

from tests.policy.prompts import PROMPTS, test_policy_text
from webui.policy import PromptBlocked, PromptPolicy
from webui.policy.normalize import clauses


@pytest.fixture(scope="module")
def policy():
    """The test policy, with the tiny LoRA's trigger words as the app reads them."""
    p = PromptPolicy(text=test_policy_text())
    p.lora_words = {"tiny-lora-a": ["tinystyle", "red hat"]}.get
    return p


def test_the_table_holds_sixty_prompts_of_every_kind():
    kinds = [outcome for _, _, outcome, _ in PROMPTS]
    assert len(PROMPTS) >= 60
    assert min(kinds.count(k) for k in ("block", "warn", "pass")) >= 10


@pytest.mark.parametrize("prompt,negative,outcome,rules", PROMPTS,
                         ids=[repr(p[0])[:40] for p in PROMPTS])
def test_prompt_table(policy, prompt, negative, outcome, rules):
    texts = [prompt] + ([negative] if policy.check_negative else [])
    findings = policy.evaluate(texts)
    if outcome == "block":
        assert findings and findings[0].action == "block"
        assert findings[0].rule_id == rules[0]
        with pytest.raises(PromptBlocked) as err:
            policy.check(texts, owner="t", door="test")
        assert err.value.rule_id == rules[0]
        assert str(err.value).startswith(findings[0].message)
    else:
        assert {f.rule_id for f in findings} == set(rules)
        assert all(f.action == "warn" for f in findings)
        assert policy.check(texts, owner="t", door="test") == [f.text() for f in findings]


@pytest.mark.parametrize("word,trap", [("ass", "assassin"), ("cock", "cocktail"),
                                       ("cunt", "Scunthorpe"), ("sex", "Essex"),
                                       ("rapist", "therapist")])
def test_listed_words_match_alone_but_not_inside_other_words(policy, word, trap):
    assert policy.evaluate([f"a {word} here"])
    assert policy.evaluate([f"a {trap} here"]) == []


def test_the_warning_names_the_rule_and_the_words_seen():
    (warning,) = PromptPolicy.shipped().check(["a n\u00fcde statue"], owner="u", door="ui")
    assert warning == 'Sexual terms: the picture may be explicit. (rule sexual: "nude")'


def test_a_blocked_prompt_says_the_rules_message_and_both_words():
    with pytest.raises(PromptBlocked, match=r'^Sexual content involving minors is not '
                       r'allowed\. \(rule minors-sexual: "nude" \+ "child"\)$'):
        PromptPolicy.shipped().check(["NUDE, (chi\u200bld:1.2)"], owner="u", door="ui")


def test_every_text_is_checked_on_its_own():
    """A caption list (training): one bad caption blocks; words of different captions are not
    put together."""
    policy = PromptPolicy.shipped()
    assert policy.evaluate(["a nude statue", "a child in a park"])[0].action == "warn"
    with pytest.raises(PromptBlocked):
        policy.check(["a castle", "a nude child"], owner="u", door="training")


def test_lora_tags_are_read_as_their_own_clause():
    found, loras = clauses("a castle <lora:Jane_Doe-v2:0.7>, BREAK (sky:1.2)")
    assert loras == ["Jane_Doe-v2"]
    words = [[w[0] for w in c.words] for c in found]
    assert words == [["a", "castle"], ["sky"], ["jane", "doe", "v2"]]
    assert [c.lora for c in found] == [False, False, True]


def test_a_lora_whose_trigger_words_name_an_artist_is_caught_only_with_the_lookup():
    policy = PromptPolicy(text=test_policy_text())
    assert policy.evaluate(["<lora:tiny-lora-a:0.5> a castle"]) == []
    policy.lora_words = lambda name: ["tinystyle"] if name == "tiny-lora-a" else []
    assert policy.evaluate(["<lora:tiny-lora-a:0.5> a castle"])[0].rule_id == \
        "artist:Tinystyle Studio"


def test_an_artist_entry_with_anywhere_matches_the_bare_name():
    policy = PromptPolicy(text='[[artist]]\nname = "Jane Doe"\nanywhere = true\n')
    assert policy.evaluate(["a portrait of jane doe"])[0].rule_id == "artist:Jane Doe"


def test_groups_must_all_match():
    policy = PromptPolicy(text='[[rule]]\nid = "x"\naction = "block"\nterms = ["red"]\n'
                               'with = [["green"], ["blue", "navy blue"]]\n')
    assert policy.evaluate(["red and green"]) == []
    assert policy.evaluate(["red, green, navy blue"])[0].words == ("red", "green", "navy blue")
