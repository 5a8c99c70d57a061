"""C2PA content credentials: sign each saved image with the operator's certificate, and read
a manifest back.

Optional: needs ``c2pa-python`` (the extra in ``requirements-extras.txt``). With
``--c2pa-cert CHAIN.pem --c2pa-key KEY.pem`` every image is signed with a manifest holding
one ``c2pa.created`` action with the IPTC digital source type, the software agent
(``sdxl-webui`` and its version) and the model's name and hash as the action's parameters.
The algorithm follows the key: EC P-256/384/521 -> ES256/384/512, RSA -> PS256, Ed25519.

The chain file holds the signing certificate first, then its intermediates (PEM). Use a
certificate issued for signing (``digitalSignature`` key usage and an extended key usage
such as ``emailProtection``, as public C2PA certificates have); c2pa refuses to sign with a
self-signed CA certificate. The pair is tried once at start (a small picture is signed and
read back), so a certificate that cannot sign stops the start with the reason. No timestamp
authority is used (the app runs offline).
"""

from __future__ import annotations

import io
import json
import logging
import threading
from pathlib import Path

from PIL import Image

from webui.provenance.xmp import TRAINED_ALGORITHMIC_MEDIA

log = logging.getLogger(__name__)

MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTRA_HINT = "pip install -r requirements-extras.txt (c2pa-python)"


class C2paUnavailable(RuntimeError):
    """c2pa-python is not installed, or the certificate and key cannot sign."""


def c2pa_module():
    """The ``c2pa`` module, or None when the extra is not installed."""
    try:
        import c2pa
    except Exception:  # noqa: BLE001 - ImportError or a missing native library
        return None
    return c2pa


def _algorithm(key_pem: bytes) -> str:
    """The C2PA algorithm name for a PEM private key."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(key_pem, password=None)
    except (TypeError, ValueError) as exc:
        raise C2paUnavailable(f"--c2pa-key is not an unencrypted PEM private key: {exc}") \
            from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name not in algs:
            raise C2paUnavailable(f"--c2pa-key: curve {key.curve.name} is not one C2PA "
                                  "signs with (P-256, P-384, P-521)")
        return algs[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise C2paUnavailable("--c2pa-key must be an EC (P-256/384/521), RSA or Ed25519 key")


class C2paSigner:
    """Signs encoded images with one certificate chain and key (thread-safe)."""

    def __init__(self, cert: Path, key: Path, software: str, version: str):
        c2pa = c2pa_module()
        if c2pa is None:
            raise C2paUnavailable("C2PA signing needs the c2pa-python package: "
                                  f"{EXTRA_HINT}")
        try:
            self.cert_pem = Path(cert).read_bytes()
            self.key_pem = Path(key).read_bytes()
        except OSError as exc:
            raise C2paUnavailable(f"cannot read the C2PA certificate or key: {exc}") from None
        self.alg = _algorithm(self.key_pem)
        self.software, self.version = software, version
        self._c2pa = c2pa
        self._lock = threading.Lock()
        info = c2pa.C2paSignerInfo(self.alg, self.cert_pem, self.key_pem, None)
        try:
            self._signer = c2pa.Signer.from_info(info)
        except Exception as exc:  # noqa: BLE001 - c2pa's own errors name the problem
            raise C2paUnavailable(f"the C2PA certificate and key cannot sign: {exc}") from None
        # a certificate C2PA refuses shows now, at start, not on the first image
        probe = io.BytesIO()
        Image.new("RGB", (16, 16), "gray").save(probe, format="PNG")
        try:
            signed = self.sign(probe.getvalue(), "png", model_name="start-up check")
        except Exception as exc:  # noqa: BLE001
            raise C2paUnavailable(f"the C2PA certificate and key cannot sign: {exc}") from None
        check = read_manifest(signed, MIME["png"])
        if not check.get("valid"):
            raise C2paUnavailable("the C2PA certificate and key sign, but the manifest does "
                                  "not validate: " + ", ".join(check.get("errors") or
                                                               [str(check)]))

    def manifest(self, fmt: str, model_name: str = "", model_hash: str = "",
                 source_type: str = TRAINED_ALGORITHMIC_MEDIA, title: str = "") -> dict:
        agent = {"name": self.software, "version": self.version}
        params = {}
        if model_name:
            params["model"] = model_name
        if model_hash:
            params["model_hash"] = model_hash
        action = {"action": "c2pa.created", "digitalSourceType": source_type,
                  "softwareAgent": agent}
        if params:
            action["parameters"] = params
        return {
            "claim_generator_info": [agent],
            "title": title or f"image{'.jpg' if fmt == 'jpeg' else '.' + fmt}",
            "format": MIME[fmt],
            "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}],
        }

    def sign(self, data: bytes, fmt: str, model_name: str = "", model_hash: str = "",
             source_type: str = TRAINED_ALGORITHMIC_MEDIA, title: str = "") -> bytes:
        """``data`` (an encoded image of ``fmt``) with a signed manifest embedded."""
        manifest = self.manifest(fmt, model_name, model_hash, source_type, title)
        out = io.BytesIO()
        with self._lock:
            builder = self._c2pa.Builder(json.dumps(manifest))
            try:
                builder.sign(self._signer, MIME[fmt], io.BytesIO(data), out)
            finally:
                builder.close()
        return out.getvalue()


def _first(items, key):
    for item in items or ():
        if isinstance(item, dict) and key in item:
            return item[key]
    return None


def read_manifest(data: bytes, mime: str, trust_anchors: str | None = None) -> dict:
    """What a C2PA reader says of ``data``: ``{"present": False}`` without a manifest; else
    ``{"present", "validation_state"`` ("Invalid", "Valid": signature and content hashes
    check out, "Trusted": also signed under ``trust_anchors``), ``"valid", "trusted",
    "errors"`` (failure codes but ``signingCredential.untrusted``),
    "actions", "digital_source_type", "software_agent", "model", "model_hash", "signer",
    "claim_generator"}``; ``{"available": False, "reason"}`` without c2pa-python."""
    c2pa = c2pa_module()
    if c2pa is None:
        return {"available": False, "present": None,
                "reason": f"c2pa-python is not installed ({EXTRA_HINT})"}
    context = None
    if trust_anchors:
        context = c2pa.Context.from_dict({"trust": {"trust_anchors": trust_anchors},
                                          "verify": {"verify_trust": True}})
    try:
        if context is not None:
            reader = c2pa.Reader(mime, io.BytesIO(data), context=context)
        else:
            reader = c2pa.Reader(mime, io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - ManifestNotFound, unsupported format, ...
        text = str(exc)
        if "ManifestNotFound" in type(exc).__name__ or "not found" in text.lower() \
                or "no jumbf" in text.lower():
            return {"available": True, "present": False}
        return {"available": True, "present": False, "reason": f"cannot read: {text}"}
    try:
        state = reader.get_validation_state() or ""
        results = reader.get_validation_results() or {}
        manifest = reader.get_active_manifest() or {}
    finally:
        reader.close()
    active = results.get("activeManifest", {}) if isinstance(results, dict) else {}
    failures = [f.get("code", "") for f in active.get("failure", [])] if active else []
    # a signer outside the reader's trust list is not a broken manifest: "Valid", untrusted
    trusted = state == "Trusted"
    errors = [code for code in failures if code != "signingCredential.untrusted"]
    actions = []
    for assertion in manifest.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            actions += assertion.get("data", {}).get("actions", [])
    created = next((a for a in actions if a.get("action") == "c2pa.created"), {})
    params = created.get("parameters") or {}
    agent = created.get("softwareAgent")
    if isinstance(agent, dict):
        agent = " ".join(str(agent.get(k, "")) for k in ("name", "version")).strip()
    signature = manifest.get("signature_info") or {}
    generator = _first(manifest.get("claim_generator_info"), "name") or \
        manifest.get("claim_generator", "")
    return {
        "available": True, "present": True, "validation_state": state,
        "valid": state in ("Valid", "Trusted") and not errors, "trusted": trusted,
        "errors": errors, "actions": [a.get("action", "") for a in actions],
        "digital_source_type": created.get("digitalSourceType", ""),
        "software_agent": agent or "", "model": params.get("model", ""),
        "model_hash": params.get("model_hash", ""),
        "signer": {k: signature.get(k, "") for k in ("issuer", "common_name", "alg")},
        "claim_generator": generator or "",
    }
