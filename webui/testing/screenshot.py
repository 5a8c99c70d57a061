"""Take the README screenshot: the app on the demo model (it draws), one job of four images.

``python -m webui.testing.screenshot OUT.png`` (needs Debian's chromium and playwright).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PROMPT = "a large yellow star on a purple background, center"


def main(out: str) -> None:
    from playwright.sync_api import sync_playwright

    from webui.app import create_context
    from webui.config import Settings
    from webui.server.uvicorn_server import serve
    from webui.testing.demo_model import install

    tmp = Path(tempfile.mkdtemp())
    install(tmp / "models")
    ctx = create_context(Settings(models_dir=tmp / "models", outputs_dir=tmp / "outputs",
                                  data_dir=tmp / "data"))
    demo = serve(ctx, block=False, port=7899)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(demo.local_url)
        # the page shows the demo model's native size (128 px) once its defaults arrive
        page.wait_for_function(
            "() => document.querySelector('#txt2img_preset input')?.value === '128x128 (1:1)'")
        page.locator("#txt2img_prompt textarea").fill(PROMPT)
        page.locator("#txt2img_negative_prompt textarea").fill("red, circle")
        for elem_id, value in (("txt2img_seed", "3"), ("txt2img_batch_size", "4"),
                               ("txt2img_cfg_scale", "5")):
            box = page.locator(f"#{elem_id} input[type=number]")
            box.fill(value)
            box.press("Enter")
        page.locator("#txt2img_generate").click()
        page.wait_for_function(  # the final result, not a live preview
            "() => document.querySelector('#txt2img_info textarea').value.includes('Seed:')",
            timeout=300_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=out, full_page=True)
        browser.close()
    demo.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot-txt2img.png")
