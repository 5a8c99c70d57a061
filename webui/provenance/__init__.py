"""Watermark and provenance of every saved image (issue 15 items 4 and 5).

:class:`Provenance` is the last step before an image is written, in the one place every
saved picture passes (``HistoryStore.record``; the Extras service's saving too):

1. :meth:`Provenance.mark` embeds SDXL's invisible 48-bit watermark (``dwtDct`` of
   ``invisible-watermark``, as Stability's reference code does) once, after all
   post-processing; pictures under 256 px wide are left as they are and a notice says so;
   ``--no-watermark`` turns it off;
2. :meth:`Provenance.encode` writes the file (A1111 infotext as before, plus the XMP label
   ``Iptc4xmpExt:DigitalSourceType = trainedAlgorithmicMedia`` with the software name and
   version) and, with ``--c2pa-cert``/``--c2pa-key``, signs it with a C2PA manifest.

:func:`check_image` reads all three back (``/sdapi/v1/check-image`` and the PNG Info tab's
"Check image" panel).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from webui import __version__
from webui.imageio import save_with_parameters
from webui.provenance import watermark as wm
from webui.provenance.c2pa_sign import C2paSigner, C2paUnavailable, read_manifest
from webui.provenance.xmp import (ALGORITHMICALLY_ENHANCED, TRAINED_ALGORITHMIC_MEDIA,
                                  read_labels, xmp_packet)

log = logging.getLogger(__name__)

SOFTWARE = "sdxl-webui"

__all__ = ["Provenance", "check_image", "C2paUnavailable", "TRAINED_ALGORITHMIC_MEDIA",
           "ALGORITHMICALLY_ENHANCED", "SOFTWARE"]


@dataclass
class Provenance:
    """How saved images are marked and labelled (built once from the flags)."""

    watermark: bool = True  # --no-watermark: False
    signer: C2paSigner | None = None  # --c2pa-cert + --c2pa-key
    software: str = SOFTWARE
    version: str = __version__
    #: why the watermark cannot be embedded here (None: it can); checked once
    unavailable: str | None = field(default=None, init=False)

    def __post_init__(self):
        if self.watermark:
            self.unavailable = wm.available()
            if self.unavailable:
                log.error("invisible watermark OFF: %s", self.unavailable)

    @classmethod
    def from_settings(cls, settings) -> "Provenance":
        """From ``--no-watermark``, ``--c2pa-cert`` and ``--c2pa-key``;
        ``C2paUnavailable`` when the certificate, key or c2pa-python cannot sign."""
        signer = None
        cert, key = getattr(settings, "c2pa_cert", None), getattr(settings, "c2pa_key", None)
        if cert or key:
            if not (cert and key):
                raise C2paUnavailable("C2PA signing needs both --c2pa-cert and --c2pa-key")
            signer = C2paSigner(Path(cert), Path(key), SOFTWARE, __version__)
        return cls(watermark=not getattr(settings, "no_watermark", False), signer=signer)

    def describe(self) -> str:
        """One line for the start-up log."""
        mark = ("SDXL invisible watermark on" if self.watermark and not self.unavailable
                else "invisible watermark OFF" + (" (--no-watermark)" if not self.watermark
                                                  else f" ({self.unavailable})"))
        c2pa = f"C2PA signing on ({self.signer.alg})" if self.signer else "no C2PA signing"
        return f"{mark}; XMP DigitalSourceType label on every image; {c2pa}"

    # -- 1. the pixels ----------------------------------------------------------------------
    def mark(self, image: Image.Image) -> tuple[Image.Image, str | None]:
        """(the picture to save, a notice or None): SDXL's watermark embedded, or the
        picture unchanged with the reason (too small, library missing); nothing is said
        when an admin turned the watermark off."""
        if not self.watermark:
            return image, None
        if self.unavailable:
            return image, "not watermarked: the invisible-watermark library is unavailable"
        if wm.too_small(image):
            return image, wm.NOT_MARKED_SMALL
        return wm.embed_watermark(image), None

    # -- 2. the file ------------------------------------------------------------------------
    def xmp(self, model_name: str = "", model_hash: str = "",
            source_type: str = TRAINED_ALGORITHMIC_MEDIA) -> bytes:
        return xmp_packet(self.software, self.version, source_type, model_name, model_hash)

    def encode(self, image: Image.Image, infotext: str | None, fmt: str = "png",
               model_name: str = "", model_hash: str = "",
               source_type: str = TRAINED_ALGORITHMIC_MEDIA,
               texts: dict[str, str] | None = None, title: str = "") -> bytes:
        """The file's bytes: ``image`` in ``fmt`` with the infotext (and any other PNG
        ``texts``), the XMP label and, when signing is on, a C2PA manifest."""
        buf = io.BytesIO()
        save_with_parameters(image, buf, infotext, fmt,
                             xmp=self.xmp(model_name, model_hash, source_type), texts=texts)
        data = buf.getvalue()
        if self.signer is not None:
            data = self.signer.sign(data, fmt, model_name, model_hash, source_type, title)
        return data

    # -- Extras: upscaled pictures ----------------------------------------------------------
    @staticmethod
    def made_with_ai(source: Image.Image) -> bool:
        """True when ``source`` says it was generated: A1111 parameters, the XMP label or
        SDXL's watermark."""
        params = source.info.get("parameters")
        if isinstance(params, str) and params.strip():
            return True
        if read_labels(source).get("ai_generated"):
            return True
        return wm.read_watermark(source).found

    def finish_upscaled(self, source: Image.Image, image: Image.Image,
                        texts: dict[str, str], title: str = "") -> tuple[Image.Image, bytes]:
        """(the picture to answer, the PNG's bytes) of an Extras result ``image`` made from
        ``source``: a generated source's result is marked and labelled
        ``trainedAlgorithmicMedia``; an upscaled photograph is labelled
        ``algorithmicallyEnhanced`` and not marked (the SDXL mark would claim SDXL made it).
        ``texts``: the PNG text chunks (``parameters``, ``postprocessing``, ``extras``)."""
        texts = dict(texts)
        infotext = texts.pop("parameters", None)
        if self.made_with_ai(source):
            image, _ = self.mark(image)
            source_type = TRAINED_ALGORITHMIC_MEDIA
        else:
            source_type = ALGORITHMICALLY_ENHANCED
        return image, self.encode(image, infotext, "png", source_type=source_type,
                                  texts=texts, title=title)


def _mime(image: Image.Image) -> str:
    return {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}.get(
        image.format or "", "")


def check_image(data: bytes, trust_anchors: str | None = None) -> dict:
    """What an image file says of where it came from: SDXL's watermark (bits read back),
    the XMP labels and the C2PA manifest. ``ValueError`` when ``data`` is not an image."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # noqa: BLE001 - anything that is not a picture
        raise ValueError(f"not an image this app can read: {exc}") from None
    mime = _mime(image)
    labels = read_labels(image)
    reading = wm.read_watermark(image)
    c2pa = read_manifest(data, mime, trust_anchors) if mime else \
        {"available": True, "present": False, "reason": f"{image.format} files carry no "
                                                         "C2PA manifest here"}
    return {"format": image.format or "", "size": f"{image.width}x{image.height}",
            "watermark": reading.as_dict() | {"text": reading.text()},
            "labels": labels, "c2pa": c2pa}


def check_summary(report: dict) -> list[str]:
    """Plain lines of a :func:`check_image` report (the PNG Info panel)."""
    lines = [report["watermark"]["text"]]
    labels = report["labels"]
    if labels.get("xmp") and labels.get("digital_source_type"):
        kind = labels["digital_source_type"].rsplit("/", 1)[-1]
        lines.append(f"Label (XMP, IPTC DigitalSourceType): {kind}"
                     + (" — made with AI" if labels.get("ai_generated") else ""))
        if labels.get("software"):
            lines.append(f"Software: {labels['software']}")
        if labels.get("model"):
            lines.append(f"Model: {labels['model']}"
                         + (f" [{labels['model_hash']}]" if labels.get("model_hash") else ""))
    else:
        lines.append("Label (XMP DigitalSourceType): none")
    c2pa = report["c2pa"]
    if c2pa.get("available") is False:
        lines.append(f"C2PA: not checked ({c2pa.get('reason', '')})")
    elif not c2pa.get("present"):
        lines.append("C2PA: no manifest" + (f" ({c2pa['reason']})" if c2pa.get("reason")
                                            else ""))
    else:
        state = c2pa.get("validation_state", "")
        verdict = {"Trusted": "valid, signer trusted",
                   "Valid": "valid (signature and content check out; the signer is not on "
                            "a trust list this server knows)"}.get(state, f"INVALID ({state})")
        lines.append(f"C2PA: {verdict}; signed by {c2pa['signer'].get('common_name', '')} "
                     f"({c2pa['signer'].get('issuer', '')})")
        if c2pa.get("errors"):
            lines.append("C2PA problems: " + ", ".join(c2pa["errors"]))
        if c2pa.get("actions"):
            lines.append("C2PA actions: " + ", ".join(c2pa["actions"])
                         + (f" by {c2pa['software_agent']}" if c2pa.get("software_agent")
                            else ""))
        if c2pa.get("model"):
            lines.append(f"C2PA model: {c2pa['model']}"
                         + (f" [{c2pa['model_hash']}]" if c2pa.get("model_hash") else ""))
    return lines
