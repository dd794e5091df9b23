"""An apk v3 ("ADB") package reader for the tests, written from apk-tools 3's format description
(doc/apk-v3.5, src/adb.h, src/apk_adb.h) and not from deploy/openwrt/apk3.py: it checks what
apk itself checks when it opens a package (magic, schema, block order and bounds, compat
version, DATA blocks only after the ADB block, every DATA block's hash against the metadata)
and turns the metadata into plain dicts keyed by apk's field names.

No apk v3 binary is available here (Debian 12 has none; PyPI neither), so this reader is what
the package is checked with.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path


class AdbError(ValueError):
    pass


# field names by 1-based slot, from apk_adb.h / apk_adb.c (schema_*)
DEP = ("name", "version", "match")
PKGINFO = ("name", "version", "hashes", "description", "arch", "license", "origin", "maintainer", "url",
           "repo-commit", "build-time", "installed-size", "file-size", "provider-priority", "depends",
           "provides", "replaces", "install-if", "recommends", "layer", "tags")
ACL = ("mode", "user", "group", "xattrs")
FILE = ("name", "acl", "size", "mtime", "hash", "target")
DIR = ("name", "acl", "files")
SCRIPTS = ("trigger", "pre-install", "post-install", "pre-deinstall", "post-deinstall", "pre-upgrade",
           "post-upgrade")
PACKAGE = ("info", "paths", "scripts", "triggers", "replaces-priority")
# which fields hold objects/arrays, and of what
NESTED = {("package", "info"): "pkginfo", ("package", "paths"): "dirs", ("package", "scripts"): "scripts",
          ("package", "triggers"): "strings", ("pkginfo", "depends"): "deps", ("pkginfo", "provides"): "deps",
          ("pkginfo", "replaces"): "deps", ("pkginfo", "install-if"): "deps", ("pkginfo", "recommends"): "deps",
          ("dir", "acl"): "acl", ("dir", "files"): "files", ("file", "acl"): "acl"}
OBJECTS = {"package": PACKAGE, "pkginfo": PKGINFO, "dir": DIR, "file": FILE, "acl": ACL, "scripts": SCRIPTS,
           "dep": DEP}
ARRAYS = {"dirs": "dir", "files": "file", "deps": "dep"}
INTS = {"mode", "size", "mtime", "installed-size", "file-size", "build-time", "match", "provider-priority",
        "layer", "replaces-priority"}


@dataclass
class Package:
    schema: bytes
    compressed: bool
    adb: bytes
    meta: dict
    data: dict[str, bytes]  # "dir/file" -> content, from the DATA blocks
    signed: bool


class _Values:
    def __init__(self, adb: bytes) -> None:
        self.adb = adb

    def _at(self, off: int, n: int) -> bytes:
        if off + n > len(self.adb):
            raise AdbError(f"value at {off}+{n} past the end of the ADB block ({len(self.adb)})")
        return self.adb[off:off + n]

    def scalar(self, v: int) -> int | bytes | None:
        t, x = v >> 28, v & 0x0FFFFFFF
        if t == 0:
            if x != 0:
                raise AdbError(f"special value {x} where a scalar was expected")
            return None
        if t == 1:
            return x
        if t == 2:
            if x % 4:
                raise AdbError("misaligned int32")
            return struct.unpack("<I", self._at(x, 4))[0]
        if t == 3:
            return struct.unpack("<Q", self._at(x, 8))[0]
        for typ, fmt in ((8, "<B"), (9, "<H"), (0xA, "<I")):
            if t == typ:
                size = struct.calcsize(fmt)
                if x % size:
                    raise AdbError(f"misaligned blob length at {x}")
                (n,) = struct.unpack(fmt, self._at(x, size))
                return self._at(x + size, n)
        raise AdbError(f"value type {t:#x} where a scalar was expected")

    def slots(self, v: int, want: int) -> list[int]:
        t, x = v >> 28, v & 0x0FFFFFFF
        if v == 0:
            return []
        if t != want:
            raise AdbError(f"value type {t:#x}, expected {want:#x}")
        if x % 4:
            raise AdbError("misaligned object")
        (n,) = struct.unpack("<I", self._at(x, 4))
        if n < 1:
            raise AdbError("object with no count slot")
        return list(struct.unpack(f"<{n - 1}I", self._at(x + 4, 4 * (n - 1))))

    def obj(self, v: int, kind: str) -> dict:
        names = OBJECTS[kind]
        out: dict = {}
        for i, sv in enumerate(self.slots(v, 0xE)):
            if sv == 0:
                continue
            if i >= len(names):
                raise AdbError(f"{kind}: slot {i + 1} beyond the schema")
            name = names[i]
            sub = NESTED.get((kind, name))
            if sub in ARRAYS:
                out[name] = [self.obj(item, ARRAYS[sub]) for item in self.slots(sv, 0xD)]
            elif sub == "strings":
                out[name] = [self.scalar(item) for item in self.slots(sv, 0xD)]
            elif sub:
                out[name] = self.obj(sv, sub)
            else:
                val = self.scalar(sv)
                if name in INTS and not isinstance(val, int):
                    raise AdbError(f"{kind}.{name} is not an integer")
                if name not in INTS and not isinstance(val, bytes):
                    raise AdbError(f"{kind}.{name} is not a blob")
                out[name] = val
        return out


def read(blob: bytes) -> Package:
    compressed = False
    if blob[:4] == b"ADBd":
        d = zlib.decompressobj(-15)
        blob = d.decompress(blob[4:]) + d.flush()
        if d.unused_data:
            raise AdbError("data after the deflate stream")
        compressed = True
    if len(blob) < 8 or blob[:4] != b"ADB.":
        raise AdbError("not an ADB file")
    schema = blob[4:8]
    pos, adb, data_blocks, signed = 8, b"", [], False
    while pos < len(blob):
        if len(blob) - pos < 4:
            raise AdbError("truncated block header")
        (word,) = struct.unpack_from("<I", blob, pos)
        kind, raw = word >> 30, word & 0x3FFFFFFF
        if kind == 3:
            raise AdbError("extended block (not expected in a small package)")
        if raw < 4 or pos + raw + (-raw % 8) > len(blob):
            raise AdbError(f"block at {pos} runs past the end")
        payload = blob[pos + 4:pos + raw]
        if any(blob[pos + raw:pos + raw + (-raw % 8)]):
            raise AdbError("non-zero block padding")
        if kind == 0:
            if adb or data_blocks:
                raise AdbError("second or late ADB block")
            if len(payload) < 16:  # apk: "b.len < 16" is a bad block
                raise AdbError("ADB block too short")
            if payload[0] != 0:
                raise AdbError(f"ADB compat version {payload[0]}")
            adb = payload
        elif kind == 1:
            if not adb or data_blocks:
                raise AdbError("SIG block out of place")
            signed = True
        else:
            if not adb:
                raise AdbError("DATA block before the ADB block")
            data_blocks.append(payload)
        pos += raw + (-raw % 8)
    if not adb:
        raise AdbError("no ADB block")
    values = _Values(adb)
    (root,) = struct.unpack_from("<I", adb, 4)
    meta = values.obj(root, "package")
    data: dict[str, bytes] = {}
    dirs = meta.get("paths", [])
    # apk's extractor (extract_v3.c) walks the tree in order and expects the next DATA block to
    # be for the next file with a size and no link target: any other order is an error
    expected = [(pi, fi) for pi, d in enumerate(dirs, 1) for fi, f in enumerate(d.get("files", []), 1)
                if f.get("size", 0) and "target" not in f]
    got = [struct.unpack_from("<II", p) for p in data_blocks]
    if got != expected:
        raise AdbError(f"DATA blocks {got[:5]}... do not follow the tree's files {expected[:5]}...")
    for d in dirs:
        for f in d.get("files", []):
            if "target" not in f and len(f.get("hash", b"")) != 32:
                raise AdbError(f"{path_of(d, f)}: no SHA-256 hash")
    for payload in data_blocks:
        pi, fi = struct.unpack_from("<II", payload)
        try:
            d, f = dirs[pi - 1], dirs[pi - 1].get("files", [])[fi - 1]
        except IndexError:
            raise AdbError(f"DATA block for path {pi} file {fi}, which the metadata does not have") from None
        content = payload[8:]
        if len(content) != f.get("size", 0) or hashlib.sha256(content).digest() != f.get("hash"):
            raise AdbError(f"DATA block for {d.get('name', b'').decode()}/{f['name'].decode()} does not match its hash")
        data[path_of(d, f)] = content
    return Package(schema, compressed, adb, meta, data, signed)


def path_of(d: dict, f: dict) -> str:
    name = d.get("name", b"").decode()
    return f"{name}/{f['name'].decode()}" if name else f["name"].decode()


def extract(pkg: Package, root: Path) -> None:
    """Lay the package's tree out under root, with the modes from the metadata."""
    for d in pkg.meta.get("paths", []):
        dpath = root / d.get("name", b"").decode()
        dpath.mkdir(parents=True, exist_ok=True)
        for f in d.get("files", []):
            p = root / path_of(d, f)
            p.write_bytes(pkg.data.get(path_of(d, f), b""))
            p.chmod(f.get("acl", {}).get("mode", 0o644))
