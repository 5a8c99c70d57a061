"""Regenerate the CLIP tokenizer files shipped with the SDXL config folders.

SDXL uses the same byte-level BPE vocabulary for both of its text encoders
(OpenAI CLIP ViT-L/14 and OpenCLIP ViT-bigG/14).  Hugging Face stores it as
``vocab.json`` + ``merges.txt``; those are derived from OpenAI's
``bpe_simple_vocab_16e6.txt.gz`` exactly the way OpenAI's ``SimpleTokenizer``
(and OpenCLIP's copy of it) builds its encoder:

* merges = lines[1 : 49152 - 256 - 2 + 1] of the gzipped file (48,894 merges)
* vocab  = the 256 byte-to-unicode characters, then each of them + ``</w>``,
  then every merge joined, then ``<|startoftext|>`` and ``<|endoftext|>``
  -> 49,408 entries (ids 49406 / 49407 for the two special tokens).

The BPE file is not fetched from any model hub: it ships inside the
``open_clip_torch`` wheel on PyPI.  To regenerate the files::

    pip download --no-deps open_clip_torch -d /tmp/oc
    python tools/make_clip_tokenizer.py --source /tmp/oc/open_clip_torch-*.whl

(``--source`` also accepts the extracted ``bpe_simple_vocab_16e6.txt.gz``.)
Do not install open_clip itself; only the data file inside the wheel is used.

Written output (relative to ``webui/models/configs/``)::

    clip-bpe/                     vocab.json and merges.txt, once for all of them
    sdxl-base-1.0/tokenizer/      pad token "<|endoftext|>"  (CLIP ViT-L/14)
    sdxl-base-1.0/tokenizer_2/    pad token "!"              (OpenCLIP bigG)
    sdxl-refiner-1.0/tokenizer_2/ pad token "!"              (OpenCLIP bigG)
    (and the inpainting folder's two, as the base's)

each tokenizer folder with ``special_tokens_map.json`` and ``tokenizer_config.json`` (as in
the official ``stabilityai`` diffusers repos, except ``clean_up_tokenization_spaces`` which
is written as ``false``); ``config_dir()`` adds the shared vocabulary when it lays out a
folder for diffusers.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "webui" / "models" / "configs"

#: SHA-256 of ``open_clip/bpe_simple_vocab_16e6.txt.gz`` (open_clip_torch 3.3.0;
#: the file has been unchanged since OpenAI's CLIP release).
BPE_GZ_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
BPE_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"

VOCAB_SIZE = 49408
NUM_MERGES = 49152 - 256 - 2
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"

#: (output folder, pad token)
TARGETS = (
    ("sdxl-base-1.0/tokenizer", EOS),
    ("sdxl-base-1.0/tokenizer_2", "!"),
    ("sdxl-refiner-1.0/tokenizer_2", "!"),
    ("sdxl-inpaint-0.1/tokenizer", EOS),
    ("sdxl-inpaint-0.1/tokenizer_2", "!"),
)


def bytes_to_unicode() -> dict[int, str]:
    """OpenAI CLIP's reversible byte -> printable unicode character table."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def read_bpe_gz(source: Path) -> bytes:
    """Return the raw ``bpe_simple_vocab_16e6.txt.gz`` bytes from a .gz or a wheel."""
    if source.suffix == ".whl" or zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            return zf.read(BPE_MEMBER)
    return source.read_bytes()


def build_vocab_and_merges(bpe_gz: bytes) -> tuple[dict[str, int], list[tuple[str, str]]]:
    lines = gzip.decompress(bpe_gz).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]
    if len(merges) != NUM_MERGES or any(len(m) != 2 for m in merges):
        raise ValueError("unexpected BPE file layout")
    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars]
    tokens += ["".join(m) for m in merges]
    tokens += [BOS, EOS]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise ValueError(f"expected {VOCAB_SIZE} vocab entries, got {len(vocab)}")
    return vocab, merges


def _added_token(content: str) -> dict:
    return {
        "content": content,
        "lstrip": False,
        "normalized": True,
        "rstrip": False,
        "single_word": False,
    }


def special_tokens_map(pad_token: str) -> dict:
    return {
        "bos_token": _added_token(BOS),
        "eos_token": _added_token(EOS),
        "pad_token": pad_token,
        "unk_token": _added_token(EOS),
    }


def tokenizer_config(pad_token: str) -> dict:
    return {
        "add_prefix_space": False,
        "bos_token": {"__type": "AddedToken", **_added_token(BOS)},
        # The official files say ``true``; transformers 5 ignores that for BPE
        # tokenizers (and warns on every load), so ``false`` is equivalent here.
        "clean_up_tokenization_spaces": False,
        "do_lower_case": True,
        "eos_token": {"__type": "AddedToken", **_added_token(EOS)},
        "errors": "replace",
        "model_max_length": 77,
        "pad_token": pad_token,
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": {"__type": "AddedToken", **_added_token(EOS)},
    }


def _dump_json(obj: dict) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def write_bpe(out_dir: Path, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
    """The vocabulary and merges, stored once (``clip-bpe/``) for every tokenizer folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    merges_text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    (out_dir / "merges.txt").write_text(merges_text, encoding="utf-8")


def write_tokenizer(out_dir: Path, pad_token: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "special_tokens_map.json").write_text(_dump_json(special_tokens_map(pad_token)), encoding="utf-8")
    (out_dir / "tokenizer_config.json").write_text(_dump_json(tokenizer_config(pad_token)), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--source",
        required=True,
        type=Path,
        help="open_clip_torch wheel, or the bpe_simple_vocab_16e6.txt.gz taken from it",
    )
    parser.add_argument("--out", type=Path, default=HERE, help="configs root to write into (default: this folder)")
    parser.add_argument("--no-verify-sha", action="store_true", help="accept a BPE file with a different SHA-256")
    args = parser.parse_args(argv)

    bpe_gz = read_bpe_gz(args.source)
    digest = hashlib.sha256(bpe_gz).hexdigest()
    if digest != BPE_GZ_SHA256 and not args.no_verify_sha:
        print(f"unexpected SHA-256 {digest} for the BPE file (expected {BPE_GZ_SHA256})", file=sys.stderr)
        return 1

    vocab, merges = build_vocab_and_merges(bpe_gz)
    write_bpe(args.out / "clip-bpe", vocab, merges)
    for rel, pad in TARGETS:
        out_dir = args.out / rel
        write_tokenizer(out_dir, pad)
        print(f"wrote {out_dir} (pad token {pad!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
