"""The provenance label in XMP: IPTC's ``DigitalSourceType`` and the software that made it.

Every saved PNG, JPEG and WebP carries one XMP packet (PNG: an ``XML:com.adobe.xmp`` iTXt
chunk beside A1111's ``parameters`` text chunk; JPEG: the APP1 XMP segment; WebP: the
``XMP `` chunk) with:

* ``Iptc4xmpExt:DigitalSourceType`` =
  ``http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`` (IPTC's term
  for "created by a model trained on sampled content", what Google, Meta and Adobe read as
  "made with AI");
* ``xmp:CreatorTool`` = ``sdxl-webui <version>`` (the software);
* ``Iptc4xmpExt:AISystemUsed`` / ``AISystemVersionUsed`` (IPTC 2023.2): the checkpoint's
  name and short hash, when known.

:func:`read_labels` reads them back from any image (never raises).
"""

from __future__ import annotations

import html
import re

from PIL import Image

IPTC_NEWSCODES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC_NEWSCODES + "trainedAlgorithmicMedia"
#: an existing picture improved by an algorithm (an upscaler on a picture not made by AI)
ALGORITHMICALLY_ENHANCED = IPTC_NEWSCODES + "algorithmicallyEnhanced"
#: the PNG iTXt keyword Adobe's XMP specification gives (part 3, 1.1.5)
PNG_XMP_KEY = "XML:com.adobe.xmp"
_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
}


def _attr(name: str, value: str) -> str:
    return f'\n    {name}="{html.escape(value, quote=True)}"'


def xmp_packet(software: str, version: str, source_type: str = TRAINED_ALGORITHMIC_MEDIA,
               model_name: str = "", model_hash: str = "") -> bytes:
    """The XMP packet (UTF-8) for one image."""
    attrs = _attr("Iptc4xmpExt:DigitalSourceType", source_type)
    attrs += _attr("xmp:CreatorTool", f"{software} {version}".strip())
    if model_name:
        attrs += _attr("Iptc4xmpExt:AISystemUsed", model_name)
    if model_hash:
        attrs += _attr("Iptc4xmpExt:AISystemVersionUsed", model_hash)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        f'<x:xmpmeta xmlns:x="{_NS["x"]}" x:xmptk="{html.escape(software)}">\n'
        f' <rdf:RDF xmlns:rdf="{_NS["rdf"]}">\n'
        '  <rdf:Description rdf:about=""'
        f'\n    xmlns:xmp="{_NS["xmp"]}"\n    xmlns:Iptc4xmpExt="{_NS["Iptc4xmpExt"]}"'
        f"{attrs}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode("utf-8")


def raw_xmp(image: Image.Image) -> str:
    """The image's XMP packet as text ("" when it has none): Pillow puts PNG's iTXt,
    JPEG's APP1 and WebP's chunk in ``info["xmp"]``."""
    for key in ("xmp", PNG_XMP_KEY, "XML:com.adobe.xmp"):
        value = image.info.get(key)
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        if isinstance(value, str) and value:
            return value
    return ""


def _property(text: str, prefix: str, name: str) -> str:
    """A simple XMP property written as an attribute or as an element (any prefix bound to
    the same namespace is not chased: the common writers use these prefixes)."""
    m = re.search(rf'\b{prefix}:{name}\s*=\s*"([^"]*)"', text) or \
        re.search(rf"\b{prefix}:{name}\s*=\s*'([^']*)'", text)
    if m is None:
        m = re.search(rf"<{prefix}:{name}(?:\s[^>]*)?>\s*([^<]*?)\s*</{prefix}:{name}>", text)
    if m is None:  # an element holding an rdf:resource
        m = re.search(rf'<{prefix}:{name}\s[^>]*rdf:resource="([^"]*)"', text)
    return html.unescape(m.group(1)).strip() if m else ""


def read_labels(image: Image.Image) -> dict:
    """``{"digital_source_type", "ai_generated", "software", "model", "model_hash"}`` from
    the image's XMP (empty strings when absent); ``{"xmp": False}`` when it has none."""
    text = raw_xmp(image)
    if not text:
        return {"xmp": False, "digital_source_type": "", "ai_generated": False,
                "software": ""}
    source = _property(text, "Iptc4xmpExt", "DigitalSourceType")
    out = {"xmp": True, "digital_source_type": source,
           "ai_generated": source.rstrip("/").endswith(("trainedAlgorithmicMedia",
                                                         "compositeWithTrainedAlgorithmicMedia",
                                                         "compositeSynthetic")),
           "software": _property(text, "xmp", "CreatorTool")}
    model = _property(text, "Iptc4xmpExt", "AISystemUsed")
    if model:
        out["model"] = model
    version = _property(text, "Iptc4xmpExt", "AISystemVersionUsed")
    if version:
        out["model_hash"] = version
    return out
