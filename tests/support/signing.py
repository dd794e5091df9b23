"""minisign signatures made in the test (Ed25519 through `cryptography`, as `minisign -S` writes
them), and a throwaway CA with a certificate for 127.0.0.1, for real HTTPS servers on loopback."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Signer:
    key: Any  # Ed25519PrivateKey
    key_id: bytes
    public_key: str  # the base64 line of a minisign .pub file

    @property
    def key_id_hex(self) -> str:
        return self.key_id[::-1].hex().upper()  # as minisign prints it

    def sign(self, data: bytes, *, prehashed: bool = True, trusted: str = "timestamp:1700000000\tfile:list.txt") -> str:
        """The .minisig text for `data` ('ED': over its BLAKE2b-512, minisign's default; 'Ed': legacy)."""
        alg = b"ED" if prehashed else b"Ed"
        sig = self.key.sign(hashlib.blake2b(data, digest_size=64).digest() if prehashed else data)
        glob = self.key.sign(sig + trusted.encode())
        return (f"untrusted comment: signature from minisign secret key\n"
                f"{base64.b64encode(alg + self.key_id + sig).decode()}\n"
                f"trusted comment: {trusted}\n{base64.b64encode(glob).decode()}\n")


def new_signer() -> Signer:
    ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519",
                             reason="the 'cryptography' package is not installed")
    from cryptography.hazmat.primitives import serialization

    key = ed.Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = os.urandom(8)
    return Signer(key, key_id, base64.b64encode(b"Ed" + key_id + raw).decode())


def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) as PEM files in `folder`: a CA made here
    for this test only, and a certificate it signed for 127.0.0.1 and localhost."""
    pytest.importorskip("cryptography", reason="the 'cryptography' package is not installed")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dnsfilter test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths
