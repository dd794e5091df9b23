"""The admin account, the session key and API tokens, kept under `data_dir/webui/` (never in
the config file, which is meant to be shown, copied and backed up).

The password is hashed with scrypt (memory-hard, in the standard library); API tokens are
random 256-bit strings, so a plain SHA-256 of them at rest is enough to make a stolen file
useless without slowing every API call down with a key-derivation function.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# scrypt cost: 16 MiB of memory per hash — affordable on a 128 MB router, costly to brute-force
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # bound the work an attacker can make us do per login attempt


@dataclass(frozen=True, slots=True)
class Admin:
    salt: str
    hash: str
    n: int
    r: int
    p: int
    language: str
    generation: int  # bumped on a password change: older sessions stop working


@dataclass(frozen=True, slots=True)
class Token:
    id: str
    name: str
    sha256: str
    created: float


# The UI's process keeps OpenSSL out (tlsload.builtin_hashes: 3.6 MB of libcrypto for one hash
# per login), so there scrypt runs in a child that exits with its 16 MiB buffer; the password
# goes through a pipe, never the command line.
SCRYPT_CHILD = ("import hashlib,json,sys;a=json.load(sys.stdin);sys.stdout.write(hashlib.scrypt("
                "a['pw'].encode('utf-8'),salt=bytes.fromhex(a['salt']),n=a['n'],r=a['r'],p=a['p'],"
                "maxmem=64<<20,dklen=32).hex())")


class HashError(RuntimeError):
    """The password could not be hashed (the scrypt child did not run or failed)."""


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    if hasattr(hashlib, "scrypt"):
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 << 20, dklen=32)
    import subprocess
    import sys

    job = json.dumps({"pw": password, "salt": salt.hex(), "n": n, "r": r, "p": p})
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", SCRYPT_CHILD], input=job.encode(),
                              capture_output=True, timeout=60, check=False)
        digest = bytes.fromhex(done.stdout.decode("ascii")) if done.returncode == 0 else b""
    except (OSError, subprocess.TimeoutExpired, ValueError) as e:
        raise HashError(f"scrypt child: {e}") from e
    if len(digest) != 32:
        raise HashError(f"scrypt child: status {done.returncode}: {done.stderr.decode(errors='replace')[-300:]}")
    return digest


def _write_private(path: Path, data: Any, *, exclusive: bool = False) -> None:
    """Write JSON readable by the appliance's user only, in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:  # first-run setup: two browsers racing must not both set a password
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class SecretsStore:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.admin_path = directory / "admin.json"
        self.tokens_path = directory / "tokens.json"
        self.key_path = directory / "session.key"

    # ------------------------------------------------------------ admin

    def admin(self) -> Admin | None:
        try:
            data = json.loads(self.admin_path.read_text(encoding="utf-8"))
            return Admin(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as e:
            # a damaged file must not reopen first-run setup to whoever comes first
            raise RuntimeError(f"{self.admin_path} is damaged ({e}); delete it to run setup again") from None

    def is_set_up(self) -> bool:
        return self.admin() is not None

    def create_admin(self, password: str, language: str) -> bool:
        """False when an admin already exists (setup done by someone else meanwhile)."""
        try:
            _write_private(self.admin_path, asdict(self._hashed(password, language, 1)), exclusive=True)
        except FileExistsError:
            return False
        return True

    def change_password(self, password: str) -> None:
        old = self.admin()
        assert old is not None
        _write_private(self.admin_path, asdict(self._hashed(password, old.language, old.generation + 1)))

    def set_language(self, language: str) -> None:
        old = self.admin()
        assert old is not None
        _write_private(self.admin_path, dict(asdict(old), language=language))

    def _hashed(self, password: str, language: str, generation: int) -> Admin:
        salt = secrets.token_bytes(16)
        digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        return Admin(salt.hex(), digest.hex(), SCRYPT_N, SCRYPT_R, SCRYPT_P, language, generation)

    def check_password(self, password: str) -> bool:
        admin = self.admin()
        if admin is None or len(password) > MAX_PASSWORD:
            return False
        digest = _scrypt(password, bytes.fromhex(admin.salt), admin.n, admin.r, admin.p)
        return hmac.compare_digest(digest.hex(), admin.hash)

    # ------------------------------------------------------------ session key

    def session_key(self) -> bytes:
        try:
            return bytes.fromhex(json.loads(self.key_path.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            key = secrets.token_bytes(32)  # a new key only logs everyone out
            _write_private(self.key_path, key.hex())
            return key

    # ------------------------------------------------------------ API tokens

    def tokens(self) -> list[Token]:
        try:
            return [Token(**t) for t in json.loads(self.tokens_path.read_text(encoding="utf-8"))]
        except FileNotFoundError:
            return []
        except (ValueError, TypeError):
            return []  # a damaged token file grants nothing

    def create_token(self, name: str) -> str:
        """A new token; its clear text is returned once and never stored."""
        clear = secrets.token_urlsafe(32)
        tok = Token(secrets.token_hex(4), name, hashlib.sha256(clear.encode()).hexdigest(), time.time())
        _write_private(self.tokens_path, [asdict(t) for t in [*self.tokens(), tok]])
        return clear

    def revoke_token(self, token_id: str) -> bool:
        tokens = self.tokens()
        kept = [t for t in tokens if t.id != token_id]
        _write_private(self.tokens_path, [asdict(t) for t in kept])
        return len(kept) != len(tokens)

    def check_token(self, clear: str) -> Token | None:
        digest = hashlib.sha256(clear.encode("utf-8", "replace")).hexdigest()
        for t in self.tokens():
            if hmac.compare_digest(t.sha256, digest):
                return t
        return None
