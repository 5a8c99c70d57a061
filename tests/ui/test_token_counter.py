"""The prompt boxes' token counter: right on a fresh server, LoRA tags not counted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from webui.ui.prompt_box import counter_text

ROOT = Path(__file__).resolve().parents[2]


def test_first_counts_at_once_on_a_fresh_process_all_succeed():
    """A page load fires the prompt and negative counters together; on a fresh server the
    second one used to fail with "cannot import name 'CLIPTokenizer'" and stay at 0/75."""
    code = """
import threading
from webui.ui.prompt_box import counter_text
out = []
def count(text):
    try:
        out.append(counter_text(text))
    except Exception as exc:
        out.append(repr(exc))
threads = [threading.Thread(target=count, args=(t,))
           for t in ("a cat", "a red dog, blue sky", "x", "")]
[t.start() for t in threads]
[t.join() for t in threads]
print(sorted(out))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(sorted(["2/75", "6/75", "1/75", "0/75"])), done.stdout


def test_lora_tags_are_not_tokens():
    assert counter_text("a cat <lora:film-grain:0.8>, red") == counter_text("a cat, red")
    assert counter_text("<lora:x:1>") == "0/75"
    # a tag still being typed (no weight yet) is not counted either, and never raises
    assert counter_text("a cat <lora:x:>") == counter_text("a cat")
    assert counter_text("a cat <lora:x:0.") != "0/75"  # unfinished tag: plain text so far
