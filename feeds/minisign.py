"""minisign signatures (Ed25519), as feeds and provider bundles are signed: `minisign -S -m FILE`
writes FILE.minisig, and the public key is the second line of the key's .pub file."""

from __future__ import annotations

import hashlib
from pathlib import Path


def verify_minisign(data_path: Path, sig_text: str, public_key: str) -> str:
    """Check a minisign signature of the file at `data_path`; the signing key's id (hex, as
    minisign prints it). Raises ValueError saying why.

    Both algorithms minisign writes are accepted: 'Ed' (legacy: Ed25519 over the file) and
    'ED' (Ed25519 over the BLAKE2b-512 of the file, minisign's default since 0.8). The trusted
    comment's global signature is checked too, so the comment cannot be swapped."""
    import base64
    import binascii

    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        raise ValueError("signature check needs the Python package 'cryptography', which is not installed") from None
    lines = [ln.rstrip("\r") for ln in sig_text.splitlines()]
    try:
        pk = base64.b64decode(public_key.strip(), validate=True)
        sig = base64.b64decode(lines[1], validate=True)
        trusted = lines[2]
        global_sig = base64.b64decode(lines[3], validate=True)
    except (IndexError, binascii.Error, ValueError):
        raise ValueError("signature file is not in minisign format") from None
    if len(pk) != 42 or pk[:2] != b"Ed":
        raise ValueError("public_key is not a minisign Ed25519 public key")
    if len(sig) != 74 or sig[:2] not in (b"Ed", b"ED") or len(global_sig) != 64:
        raise ValueError("signature file is not in minisign format")
    if not trusted.startswith("trusted comment: "):
        raise ValueError("signature file has no trusted comment")
    if sig[2:10] != pk[2:10]:
        raise ValueError(f"signed with another key (key id {sig[2:10][::-1].hex().upper()})")
    key = Ed25519PublicKey.from_public_bytes(pk[10:])
    if sig[:2] == b"ED":
        h = hashlib.blake2b(digest_size=64)
        with open(data_path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        message = h.digest()
    else:
        message = data_path.read_bytes()  # legacy: the whole file is the message (capped by max_bytes)
    try:
        key.verify(sig[10:], message)
        key.verify(global_sig, sig[10:] + trusted[len("trusted comment: "):].encode())
    except InvalidSignature:
        raise ValueError("signature does not verify: the file was changed or not signed by this key") from None
    return sig[2:10][::-1].hex().upper()
