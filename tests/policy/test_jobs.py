"""The policy in the one validation step (issue 15 item 3), on a real app context: a blocked
prompt never reaches the queue (nothing written), a warned one runs with its warnings, styles
are applied before the check, the negative prompt only when the policy says so, and each
refusal or warning is logged with owner, door and rule (the prompt only when asked)."""

from __future__ import annotations

import pytest

from tests.helpers import Snapshot, small_request
from webui.policy import PromptBlocked

SHIPPED_RULES = "minors-sexual"


def _with_settings(ctx, **settings):
    """Turn the shipped policy's settings on, as an admin saving the file would."""
    text = ctx.policy.text()
    for key in settings:
        text = text.replace(f"{key} = false", f"{key} = true")
    ctx.policy.save(text)


def test_blocked_prompt_writes_nothing_and_is_logged_without_its_text(ctx):
    snap = Snapshot(ctx)
    with pytest.raises(PromptBlocked, match="Sexual content involving minors"):
        ctx.jobs.run(small_request(prompt="a nude child"), owner="alice")
    snap.assert_nothing_written()
    assert ctx.jobs.queue.position_of("alice") is None
    events = ctx.policy.recent_events()
    assert [(e.owner, e.door, e.action, e.rule_id, e.prompt) for e in events][-1] == \
        ("alice", "ui", "block", SHIPPED_RULES, None)
    assert events[0].time is not None


def test_warned_prompt_runs_with_its_warnings(ctx):
    outcome = ctx.jobs.run(small_request(prompt="a sexy robot"), owner="bob")
    assert len(outcome.saved) == 1
    (warning,) = outcome.result.request.policy_warnings
    assert warning.startswith("Sexual terms") and '"sexy"' in warning
    (event,) = ctx.policy.recent_events()
    assert (event.owner, event.action, event.rule_id) == ("bob", "warn", "sexual")


def test_styles_are_applied_before_the_check(ctx):
    path = ctx.styles.path
    path.write_text(path.read_text(encoding="utf-8") + 'pinup,"{prompt}, sexy pinup",\n',
                    encoding="utf-8")
    ctx.jobs.run(small_request(prompt="a child in a park"))  # alone: fine
    snap = Snapshot(ctx)
    with pytest.raises(PromptBlocked, match=r'"sexy" \+ "child"'):
        ctx.jobs.run(small_request(prompt="a child in a park", styles=["pinup"]))
    snap.assert_nothing_written()


def test_the_negative_prompt_is_checked_only_when_the_policy_says_so(ctx):
    req = small_request(prompt="a cat", negative_prompt="nude child")
    assert ctx.jobs.run(req).result.request.policy_warnings == ()
    _with_settings(ctx, check_negative=True)
    with pytest.raises(PromptBlocked):
        ctx.jobs.run(req)


def test_the_prompt_is_logged_when_the_operator_asks(ctx):
    _with_settings(ctx, log_prompts=True)
    with pytest.raises(PromptBlocked):
        ctx.jobs.run(small_request(prompt="naked kid"), owner="carol")
    assert ctx.policy.recent_events()[0].prompt == "naked kid"


def test_api_requests_are_logged_with_their_door(ctx):
    with pytest.raises(PromptBlocked):
        ctx.jobs.run(small_request(prompt="lolicon", extra={"api": "stability"}), owner="k")
    assert ctx.policy.recent_events()[0].door == "stability"
