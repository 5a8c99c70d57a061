"""Take the README screenshot: start the app on the tiny models, generate once, capture.

``python -m webui.testing.screenshot OUT.png`` (needs Debian's chromium and playwright).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main(out: str) -> None:
    from playwright.sync_api import sync_playwright

    from webui.app import create_context
    from webui.config import Settings
    from webui.server.uvicorn_server import serve
    from webui.testing.tiny_models import write_tiny_models

    tmp = Path(tempfile.mkdtemp())
    write_tiny_models(tmp / "models")
    ctx = create_context(Settings(models_dir=tmp / "models", outputs_dir=tmp / "outputs",
                                  data_dir=tmp / "data"))
    demo = serve(ctx, block=False, port=7899)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(demo.local_url)
        page.locator("#txt2img_prompt textarea").fill("a photo of a cat on a red sofa")
        page.locator("#txt2img_negative_prompt textarea").fill("blurry")
        page.get_by_label("Size preset (SDXL)").click()
        page.get_by_role("option", name="832x1216").click()
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
