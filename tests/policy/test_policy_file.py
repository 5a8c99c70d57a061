"""The policy file (issue 15 item 1): its format with plain messages for every mistake, the
data-dir copy of the shipped policy, --policy, reloading on change, saving."""

from __future__ import annotations

import os

import pytest

from webui.config import parse_settings
from webui.policy import SHIPPED_POLICY, PolicyError, PromptPolicy, parse_policy


def test_shipped_policy_has_its_rules_its_sources_and_no_artist():
    text = SHIPPED_POLICY.read_text(encoding="utf-8")
    spec = parse_policy(text)
    actions = {r.id: r.action for r in spec.rules}
    assert actions["minors-sexual"] == "block"
    assert {actions[r] for r in ("sexual", "violent", "hateful")} == {"warn"}
    assert spec.artists == ()
    assert "# [[artist]]" in text  # the example, commented out
    assert "CC-BY-4.0" in text and "List-of-Dirty-Naughty-Obscene-and-Otherwise-Bad-Words" in text
    assert spec.settings.check_negative is False and spec.settings.log_prompts is False


@pytest.mark.parametrize("text,message", [
    ("[[rule]\n", r"^policy is not valid TOML: .*line 1"),
    ('[rule]\nid = "x"\n', r"write \[\[rule\]\] \(two brackets\)"),
    ('[[rule]]\naction = "block"\nterms = ["a"]\n', r"\[\[rule\]\] number 1: id is missing"),
    ('[[rule]]\nid = "x"\naction = "deny"\nterms = ["a"]\n',
     r"rule 'x': action must be \"block\" or \"warn\", got 'deny'"),
    ('[[rule]]\nid = "x"\naction = "warn"\n', r"rule 'x': terms is missing"),
    ('[[rule]]\nid = "x"\naction = "warn"\nterms = "nude"\n',
     r"rule 'x': terms must be a list of strings"),
    ('[[rule]]\nid = "x"\naction = "warn"\nterms = []\n', r"rule 'x': terms is empty"),
    ('[[rule]]\nid = "x"\naction = "warn"\nterms = ["!!"]\n',
     r"terms holds '!!', which has no letters or digits"),
    ('[[rule]]\nid = "x"\naction = "warn"\nterms = ["a"]\nwhen = ["b"]\n',
     r"rule 'x': unknown key 'when' \(keys: action, id, message, terms, with\)"),
    ('[[rule]]\nid = "x"\naction = "warn"\nterms = ["a"]\n'
     '[[rule]]\nid = "x"\naction = "warn"\nterms = ["b"]\n', r"'x' is there twice"),
    ('[[artist]]\naliases = ["x"]\n', r"\[\[artist\]\] number 1: name is missing"),
    ('[[artist]]\nname = "Jane"\naction = "hide"\n', r"artist 'Jane': action must be"),
    ('[settings]\ncheck_negative = "yes"\n', r"\[settings\]: check_negative must be true or"),
    ('[rules]\n', r"unknown table 'rules'"),
])
def test_every_mistake_is_named(text, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


def test_data_dir_gets_a_copy_of_the_shipped_policy(tmp_path):
    policy = PromptPolicy.for_app(tmp_path / "data")
    assert policy.path == tmp_path / "data" / "policy.toml"
    assert policy.text() == SHIPPED_POLICY.read_text(encoding="utf-8")


def test_a_missing_policy_flag_file_is_refused(tmp_path):
    with pytest.raises(PolicyError, match=r"policy file .*nope.toml not found \(--policy\)"):
        PromptPolicy.for_app(tmp_path, tmp_path / "nope.toml")


def test_launch_refuses_a_broken_policy_with_its_problem(tmp_path, capsys):
    bad = tmp_path / "p.toml"
    bad.write_text('[[rule]]\nid = "x"\naction = "deny"\nterms = ["a"]\n')
    with pytest.raises(SystemExit):
        parse_settings(["--policy", str(bad), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert f"policy file {bad}: rule 'x': action must be" in err
    ok = tmp_path / "ok.toml"
    ok.write_text('[[rule]]\nid = "x"\naction = "warn"\nterms = ["a"]\n')
    assert parse_settings(["--policy", str(ok), "--data-dir", str(tmp_path)]).policy == ok


def test_an_edited_file_takes_effect_at_the_next_prompt(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[[rule]]\nid = "red"\naction = "warn"\nterms = ["red"]\n')
    policy = PromptPolicy(path)
    assert policy.check(["a red car"], owner="u", door="ui")
    path.write_text('[[rule]]\nid = "blue"\naction = "warn"\nterms = ["blue"]\n')
    os.utime(path, ns=(1, 1))  # a new stamp even on a coarse clock
    assert policy.check(["a red car"], owner="u", door="ui") == []
    assert policy.check(["a blue car"], owner="u", door="ui")


def test_a_broken_edit_keeps_the_previous_policy_and_says_why(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[[rule]]\nid = "red"\naction = "warn"\nterms = ["red"]\n')
    policy = PromptPolicy(path)
    path.write_text('[[rule]]\nid = "red"\naction = "warn"\nterms = "red"\n')
    os.utime(path, ns=(1, 1))
    assert policy.check(["a red car"], owner="u", door="ui")  # still in force
    assert "terms must be a list of strings" in policy.error
    assert "previous policy stays in force" in policy.error


def test_save_checks_then_writes_the_file(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[[rule]]\nid = "red"\naction = "warn"\nterms = ["red"]\n')
    policy = PromptPolicy(path)
    with pytest.raises(PolicyError, match="the new policy: rule 'x': terms is missing"):
        policy.save('[[rule]]\nid = "x"\naction = "warn"\n')
    assert "red" in path.read_text()
    new = '[settings]\ncheck_negative = true\n'
    policy.save(new)
    assert path.read_text() == new and policy.check_negative
    assert not list(tmp_path.glob("*.tmp"))
