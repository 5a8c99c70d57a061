"""The page's own CSS and JavaScript (given to Gradio when the UI is mounted, see
``webui.server.assembly``): one progress bar per job, Ctrl+Enter, and the optional browser
notification when a job finishes."""

from __future__ import annotations

#: localStorage key of the Settings tab's "notify me when a job finishes" (this browser only)
NOTIFY_KEY = "sdxl-webui.notify"

# The job's progress is drawn in the output panel's progress area (``output_panel``), with
# its own elapsed time in the text: Gradio's timer there restarts at every live preview, so
# it is hidden.
PAGE_CSS = """
.job-progress .progress-text { display: none !important; }
.job-progress .progress-level { width: 100%; }
"""

# Ctrl+Enter (Cmd+Enter on a Mac) presses Generate in the tab on screen, as in A1111.
PAGE_JS = """
() => {
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || !(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey) return;
    const buttons = [...document.querySelectorAll('button[id$="_generate"]')];
    const button = buttons.find((b) => b.offsetParent !== null && !b.disabled);
    if (!button) return;
    e.preventDefault();
    button.click();
  });
}
"""


def notify_js(tab: str) -> str:
    """JS run when a ``tab`` job ends: a browser notification, if this browser turned them on
    in Settings, allowed them, and the page is not in front (A1111 does the same)."""
    return f"""
() => {{
  try {{
    if (localStorage.getItem('{NOTIFY_KEY}') !== '1') return;
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    if (document.visibilityState === 'visible' && document.hasFocus()) return;
    new Notification('SDXL WebUI', {{body: '{tab}: the job has finished', tag: 'sdxl-webui'}});
  }} catch (err) {{ console.warn('notification failed', err); }}
}}
"""


#: JS for the Settings checkbox: remember the choice in this browser, ask permission once
NOTIFY_TOGGLE_JS = f"""
(on) => {{
  localStorage.setItem('{NOTIFY_KEY}', on ? '1' : '0');
  if (on && 'Notification' in window && Notification.permission === 'default') {{
    Notification.requestPermission();
  }}
  return on;
}}
"""

#: JS that shows this browser's saved choice in the Settings checkbox when the page loads
NOTIFY_LOAD_JS = f"() => localStorage.getItem('{NOTIFY_KEY}') === '1'"
