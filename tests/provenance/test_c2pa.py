"""C2PA content credentials (issue 15 items 5, 7): with ``--c2pa-cert``/``--c2pa-key`` every
saved PNG, JPEG and WebP carries a signed manifest (a ``c2pa.created`` action, IPTC's
digital source type, the software agent, the model's name and hash) that reads back valid.
Each test makes a throwaway CA and signing certificate with ``cryptography``.

Skipped only when c2pa-python (requirements-extras.txt) is not installed."""

from __future__ import annotations

import base64
import datetime
import io

import pytest
from PIL import Image

from tests.helpers import small_request
from tests.provenance.helpers import textured
from webui.provenance import Provenance, TRAINED_ALGORITHMIC_MEDIA, check_image
from webui.provenance import watermark as wm
from webui.provenance.c2pa_sign import C2paSigner, C2paUnavailable, read_manifest

pytest.importorskip("c2pa", reason="c2pa-python is not installed: pip install -r "
                                   "requirements-extras.txt")

from cryptography import x509  # noqa: E402  (cryptography comes with c2pa-python)
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402


INFOTEXT = ("a cat\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: 3, Size: 512x512, "
            "Model hash: 31e35c80fc, Model: sd_xl_base_1.0")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Throwaway test CA")])


def _usage(**on) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment",
             "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
             "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


def make_ca_and_signer(folder, kind: str = "ec", ca_as_signer: bool = False):
    """(chain.pem, key.pem, ca.pem) in ``folder``: a CA, and a signing certificate it issued
    with the key usage C2PA wants (digitalSignature, emailProtection). ``ca_as_signer``:
    the CA's own self-signed certificate and key as the pair instead (c2pa refuses it)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("Test root CA"))
          .issuer_name(_name("Test root CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    chain, key_file, ca_file = folder / "chain.pem", folder / "key.pem", folder / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(pem))
    if ca_as_signer:
        chain.write_bytes(ca.public_bytes(pem))
        key_file.write_bytes(ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
        return chain, key_file, ca_file
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(_name("Test signer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain.write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return chain, key_file, ca_file


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_ca_and_signer(tmp_path_factory.mktemp("pki"))


def _assert_manifest(report: dict, model: str = "", model_hash: str = ""):
    assert report["present"] and report["valid"], report
    assert report["validation_state"] in ("Valid", "Trusted") and report["errors"] == []
    assert report["actions"][0] == "c2pa.created"
    assert report["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    assert report["software_agent"].startswith("sdxl-webui ")
    assert report["model"] == model and report["model_hash"] == model_hash
    assert report["signer"]["common_name"] == "Test signer"


@pytest.mark.parametrize("fmt, mime", [("png", "image/png"), ("jpeg", "image/jpeg"),
                                       ("webp", "image/webp")])
def test_signed_files_read_back_valid_and_keep_everything_else(pki, fmt, mime):
    chain, key, ca = pki
    prov = Provenance(signer=C2paSigner(chain, key, "sdxl-webui", "0.1.0"))
    assert prov.signer.alg == "es256"
    picture, _ = prov.mark(textured(21))
    data = prov.encode(picture, INFOTEXT, fmt, "sd_xl_base_1.0",
                       "31e35c80fc")
    _assert_manifest(read_manifest(data, mime), "sd_xl_base_1.0", "31e35c80fc")
    # signed under the throwaway CA: trusted when that CA is the reader's trust anchor
    trusted = read_manifest(data, mime, trust_anchors=ca.read_text())
    assert trusted["validation_state"] == "Trusted" and trusted["valid"]
    # the infotext, the XMP label and the watermark are all still there after signing
    report = check_image(data)
    assert report["watermark"]["bits_matched"] == 48
    assert report["labels"]["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    from webui.metadata.pnginfo import read_generation_info

    with Image.open(io.BytesIO(data)) as img:
        assert read_generation_info(img).prompt == "a cat"


def test_a_changed_file_no_longer_validates(pki):
    chain, key, _ = pki
    prov = Provenance(signer=C2paSigner(chain, key, "sdxl-webui", "0.1.0"))
    data = bytearray(prov.encode(textured(22, 256, 256), "x", "png"))
    data[-40] ^= 0xFF  # inside the image data, past the manifest
    report = read_manifest(bytes(data), "image/png")
    assert report["present"] and not report["valid"]


def test_rsa_keys_sign_with_ps256(tmp_path):
    chain, key, _ = make_ca_and_signer(tmp_path, kind="rsa")
    signer = C2paSigner(chain, key, "sdxl-webui", "0.1.0")
    assert signer.alg == "ps256"
    data = Provenance(signer=signer, watermark=False).encode(textured(23, 64, 64), "x", "jpeg")
    _assert_manifest(read_manifest(data, "image/jpeg"))


def test_flags_and_bad_credentials(tmp_path, pki):
    from webui.config import parse_settings

    chain, key, _ = pki
    s = parse_settings(["--c2pa-cert", str(chain), "--c2pa-key", str(key),
                        "--data-dir", str(tmp_path / "data")])
    assert s.c2pa_cert == chain and s.c2pa_key == key
    with pytest.raises(SystemExit):  # one without the other: a plain error at start
        parse_settings(["--c2pa-cert", str(chain), "--data-dir", str(tmp_path / "data")])
    ca_only = tmp_path / "ca-only"
    ca_only.mkdir()
    ca_cert, ca_key = make_ca_and_signer(ca_only, ca_as_signer=True)[:2]
    with pytest.raises(C2paUnavailable, match="cannot sign.*self-signed"):
        C2paSigner(ca_cert, ca_key, "sdxl-webui", "0.1.0")  # a CA's own certificate
    with pytest.raises(SystemExit):  # the same as a plain error at start
        parse_settings(["--c2pa-cert", str(ca_cert), "--c2pa-key", str(ca_key),
                        "--data-dir", str(tmp_path / "data")])
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(C2paUnavailable, match="not an unencrypted PEM private key"):
        C2paSigner(chain, tmp_path / "junk.pem", "sdxl-webui", "0.1.0")


def test_every_saved_image_is_signed(settings, pki):
    """The app with --c2pa-cert/--c2pa-key: jobs' files carry a valid manifest naming the
    checkpoint and its hash; the check route and the PNG Info panel read it."""
    from webui.app import create_context
    from webui.ui.pnginfo import check_report

    settings.c2pa_cert, settings.c2pa_key = pki[0], pki[1]
    ctx = create_context(settings)
    for fmt in ("png", "jpeg"):
        ctx.user_settings.save(output_format=fmt)
        outcome = ctx.jobs.run(small_request(width=256, height=256))
        data = outcome.saved[0].path.read_bytes()
        report = check_image(data)
        _assert_manifest(report["c2pa"], "tiny-sdxl-a", outcome.result.model_hash)
        assert report["watermark"]["bits_matched"] == 48
        assert wm.read_watermark(outcome.result.images[0].image).bits_matched == 48
    text = check_report(str(outcome.saved[0].path))
    assert "C2PA: valid (signature and content check out" in text
    assert "C2PA actions: c2pa.created by sdxl-webui" in text
    assert "C2PA model: tiny-sdxl-a" in text
    assert base64.b64encode(data)  # the API answers these same bytes (test_saved_images)
