"""The Models tab's table: each format said once, a file that cannot load flagged with why."""

from __future__ import annotations

import shutil

from webui.ui.models_tab import HEADERS, model_rows


def test_rows_say_each_format_once_and_flag_a_truncated_file(settings, tiny_models_dir,
                                                             tmp_path):
    from webui.app import create_context

    root = tmp_path / "models"
    shutil.copytree(tiny_models_dir, root)
    data = (root / "Stable-diffusion/tiny-sdxl-c.safetensors").read_bytes()
    (root / "Stable-diffusion/half.safetensors").write_bytes(data[: len(data) // 3])
    settings.models_dir = root
    rows = {r[0]: dict(zip(HEADERS, r)) for r in model_rows(create_context(settings))}
    assert rows["tiny-sdxl-a"]["Format"] == "diffusers"
    assert rows["tiny-sdxl-c"]["Format"] == "single-file"
    assert rows["tiny-vae-alt"]["Format"] == "single-file"
    assert rows["tiny-lora-b"]["Type"] == "lora (kohya)"
    for row in rows.values():  # "single-file single-file" and the like are gone
        words = row["Format"].split()
        assert len(words) == len(set(words)) == 1, row
    assert rows["tiny-sdxl-c"]["Problem"] == "" and len(rows["tiny-sdxl-c"]["Hash"]) == 10
    half = rows["half"]
    assert half["Problem"].startswith("truncated:") and "download it again" in half["Problem"]
    assert half["Hash"] == ""  # the hash of a partial file would name no real model
