"""The PNG Info tab: drop an image from any SD tool, read its generation parameters."""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr
from PIL import Image

from webui.metadata.pnginfo import read_generation_info
from webui.history.reuse import fields_from_info
from webui.metadata.info import INFOTEXT_SOURCES
from webui.ui.sendto import SendSource, prepare_fields, send_buttons

log = logging.getLogger(__name__)

NO_FILE = "Drop an image (PNG, JPEG or WebP) to read its generation parameters."


def send_payload(info, path: str, ctx=None) -> dict:
    """The Send-to fields of a PNG Info result, in this app's terms (see
    :func:`webui.ui.sendto.prepare_fields`): its schedule type and, for an infotext, its
    ``Styles`` go along so that the sampler and the styles can be matched."""
    fields = fields_from_info(info, path)
    fields["scheduler"] = info.scheduler
    styles = info.params.get("Styles") if info.source in INFOTEXT_SOURCES else None
    if styles:
        fields["styles"] = [s.strip() for s in styles.split(",") if s.strip()]
    return prepare_fields(fields, ctx)


def png_info(path: str | None, ctx=None) -> tuple[list[list[str]], str, str, dict | None]:
    """``(table rows, infotext, message, send payload)`` for the image file at ``path``.

    Reads the file itself (not a re-encoded copy), so every metadata chunk is seen. Never
    raises: files that are not images, or images without parameters, get a plain message.
    The message also says what Send-to will leave out (a sampler or seed with no
    equivalent here, a checkpoint not installed).
    """
    if not path:
        return [], "", NO_FILE, None
    name = Path(path).name
    try:
        with Image.open(path) as img:
            img.verify()
    except Exception:  # noqa: BLE001 - any unreadable file gets the same plain message
        return [], "", f"**{name}** is not an image this app can read.", None
    info = read_generation_info(path)
    if info is None:
        return [], "", f"**{name}** holds no generation parameters.", None
    rows = [[k, v] for k, v in info.to_table()]
    try:
        text = info.infotext()
    except Exception:  # noqa: BLE001 - malformed metadata still shows its table
        log.warning("cannot format infotext for %s", name, exc_info=True)
        text = info.raw
    known = info.source != "unknown"
    if not known:
        return (rows, text, f"**{name}** has metadata this app does not recognise; raw "
                            "values shown.", None)
    payload = send_payload(info, str(path), ctx)
    message = f"Read **{name}**: written by **{info.source}**."
    if payload["notices"]:
        message += "\n\nSend-to leaves out: " + "; ".join(payload["notices"]) + "."
    return rows, text, message, payload


def build_pnginfo_tab(ctx) -> SendSource:
    """Build the tab; returns its send-to hooks for the layout to wire."""
    with gr.Row():
        with gr.Column():
            upload = gr.File(label="Image", file_types=["image"], type="filepath",
                             elem_id="pnginfo_file")
            preview = gr.Image(label="Preview", type="filepath", interactive=False,
                               elem_id="pnginfo_preview")
            # SDXL's watermark, the XMP label and the C2PA manifest, read from the file
            with gr.Accordion("Check image: watermark and provenance", open=True,
                              elem_id="pnginfo_check"):
                check = gr.Markdown(NO_CHECK, elem_id="pnginfo_check_report")
        with gr.Column():
            message = gr.Markdown(NO_FILE, elem_id="pnginfo_message")
            table = gr.Dataframe(headers=["Parameter", "Value"], interactive=False, wrap=True,
                                 elem_id="pnginfo_table")
            infotext = gr.Textbox(label="Parameters (A1111 infotext)", lines=5,
                                  interactive=False, elem_id="pnginfo_infotext")
            send = send_buttons("pnginfo")

    def read(path):
        rows, text, msg, payload = png_info(path, ctx)
        return rows, text, msg, payload, path if rows or payload else None

    upload.change(read, upload, [table, infotext, message, send.payload, preview],
                  api_name="png_info")
    upload.change(check_report, upload, check, api_name="check_image")
    return send


NO_CHECK = ("Drop an image to check it for SDXL's invisible watermark, the XMP \"made with "
            "AI\" label and a C2PA manifest.")


def check_report(path: str | None) -> str:
    """Markdown of :func:`webui.provenance.check_image` for the file at ``path`` (read as
    it is, never re-encoded). Never raises."""
    from webui.provenance import check_image, check_summary

    if not path:
        return NO_CHECK
    try:
        report = check_image(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        return f"Cannot check **{Path(path).name}**: {exc}"
    return "  \n".join(check_summary(report))
