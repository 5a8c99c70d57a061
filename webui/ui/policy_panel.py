"""The Settings tab's "Prompt policy" panel: a "check this prompt" box for everyone; for an
admin, the policy file to edit and save, and the log of refusals and warnings."""

from __future__ import annotations

import logging

import gradio as gr

from webui.policy import PolicyError
from webui.ui.access import refusal

log = logging.getLogger(__name__)

EVENT_COLUMNS = ["time (UTC)", "owner", "door", "action", "rule", "prompt"]
EVENTS_SHOWN = 200


def verdict(policy, text: str) -> str:
    """What the policy says of ``text``, in Markdown (nothing is logged)."""
    if not (text or "").strip():
        return "Type a prompt to check."
    findings = policy.evaluate([text])
    if not findings:
        return "**Passes**: no rule matches this prompt."
    return "\n\n".join(f"**{'Blocked' if f.action == 'block' else 'Warning'}**: {f.text()}"
                       for f in findings)


def summary(policy) -> str:
    where = f"`{policy.path}`" if policy.path else "kept in memory"
    negative = "also checked" if policy.check_negative else "not checked"
    text = (f"Policy file {where}: {policy.spec.summary()}. Negative prompts are {negative}. "
            "Changes to the file take effect at the next prompt.")
    if policy.error:
        text += f"\n\n**The file's last change was not taken**: {policy.error}"
    return text


def event_rows(policy) -> list[list]:
    return [[e.time.strftime("%Y-%m-%d %H:%M:%S"), e.owner, e.door, e.action, e.rule_id,
             e.prompt or ""] for e in policy.recent_events(EVENTS_SHOWN)]


def build_policy_panel(ctx) -> None:
    """The panel, inside the Settings tab; the admin part is filled when the panel opens."""
    policy = ctx.policy
    with gr.Accordion("Prompt policy", open=False, elem_id="policy_panel") as panel:
        info = gr.Markdown(summary(policy), elem_id="policy_summary")
        with gr.Row():
            probe = gr.Textbox(label="Check this prompt", lines=2, scale=4,
                               elem_id="policy_probe")
            check = gr.Button("Check", scale=1, elem_id="policy_check")
        result = gr.Markdown(elem_id="policy_verdict")
        with gr.Group(visible=False, elem_id="policy_admin") as admin:
            text = gr.Textbox(label="Policy file (TOML; see README, Prompt policy)", lines=18,
                              max_lines=60, elem_id="policy_text")
            save = gr.Button("Save policy", variant="primary", elem_id="policy_save")
            status = gr.Markdown(elem_id="policy_status")
            events = gr.Dataframe(headers=EVENT_COLUMNS, value=[], interactive=False,
                                  label=f"Refusals and warnings (newest {EVENTS_SHOWN})",
                                  elem_id="policy_events")
            refresh = gr.Button("Refresh the log", elem_id="policy_refresh")

    def open_panel(request: gr.Request = None):
        if refusal(ctx, request):  # the file and the log are for admins only
            return summary(policy), gr.update(visible=False), "", []
        return summary(policy), gr.update(visible=True), policy.text(), event_rows(policy)

    def on_save(new_text: str, request: gr.Request = None):
        why = refusal(ctx, request)
        if why:
            raise gr.Error(why, print_exception=False)
        try:
            spec = policy.save(new_text or "")
        except PolicyError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return f"Saved: {spec.summary()}.", summary(policy)

    def on_refresh(request: gr.Request = None):
        return [] if refusal(ctx, request) else event_rows(policy)

    panel.expand(open_panel, None, [info, admin, text, events], api_visibility="private")
    check.click(lambda t: verdict(policy, t), probe, result, api_visibility="private",
                queue=False)
    probe.submit(lambda t: verdict(policy, t), probe, result, api_visibility="private",
                 queue=False)
    save.click(on_save, text, [status, info], api_visibility="private")
    refresh.click(on_refresh, None, events, api_visibility="private")
