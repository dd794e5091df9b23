"""apk-tools v3 package files ("ADB" format, OpenWrt 25.12) written in Python, without apk.

The format, from apk-tools 3's doc/apk-v3.5, src/adb.h, src/adb.c, src/apk_adb.[ch] and
src/app_mkpkg.c:

- the file is "ADBd" + a raw deflate stream (or "ADB." uncompressed) of: the file header
  (magic "ADB.", u32 schema "pckg"), then blocks. A block is a u32 `type << 30 | (4 + length)`,
  the payload, and zero padding to a multiple of 8. First one ADB block (the metadata), then
  optionally SIG blocks, then one DATA block per regular file with content.
- the ADB block starts with an 8-byte header (u8 compat version 0, u8 version, u16 0, u32 root
  value) followed by the values the root refers to. A value is a u32 whose top 4 bits are the
  type: 0 special (0 = null), 1 int in the low 28 bits, 2 int32 at an offset, 8/9/a blob with a
  u8/u16/u32 length at an offset (aligned to the length's size), d array and e object: at an
  offset (4-aligned), u32 slot count n (including itself) then n-1 values. Offsets count from
  the start of the ADB payload. An object's trailing null slots are left out.
- the root is a `package` object: 1 info (pkginfo), 2 paths (array of dirs), 3 scripts,
  4 triggers. pkginfo: 1 name, 2 version, 3 hashes (first 20 bytes of the SHA-256 of the ADB
  payload, computed with this field zeroed), 4 description, 5 arch, 6 license, 7 origin,
  8 maintainer, 9 url, 12 installed-size, 15 depends, 16 provides (arrays of dependency
  objects: 1 name, 2 version, 3 match). A dir: 1 name (relative path, "" for /), 2 acl
  (1 mode, 2 user, 3 group), 3 files (array of files: 1 name, 2 acl, 3 size, 4 mtime,
  5 hash = raw SHA-256, 6 target for links). Arrays of dirs, files and dependencies are
  sorted by name (byte order), as apk's pre-commit hooks leave them.
- a DATA block is u32 path index, u32 file index (1-based, into the sorted arrays), then the
  file's bytes.

Unsigned: `apk add --allow-untrusted` installs it, as `opkg install` does with a local .ipk.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field

MAGIC = b"ADB."
SCHEMA_PACKAGE = 0x676B6370  # "pckg"
BLOCK_ADB, BLOCK_SIG, BLOCK_DATA = 0, 1, 2
T_INT, T_INT32, T_BLOB8, T_BLOB16, T_BLOB32 = 0x1, 0x2, 0x8, 0x9, 0xA
T_ARRAY, T_OBJECT = 0xD, 0xE
NULL = 0
UNIQUE_ID_LEN = 20  # apk mkpkg: a SHA-1-sized prefix of the SHA-256
SCRIPTS = ("trigger", "pre-install", "post-install", "pre-deinstall", "post-deinstall",
           "pre-upgrade", "post-upgrade")


@dataclass(frozen=True, slots=True)
class File:
    path: str  # without a leading slash
    content: bytes
    mode: int


@dataclass(slots=True)
class Package:
    name: str
    version: str
    arch: str
    description: str
    files: list[File]
    depends: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    license: str = ""
    origin: str = ""
    maintainer: str = ""
    url: str = ""
    scripts: dict[str, bytes] = field(default_factory=dict)
    mtime: int = 0


class _Adb:
    """The ADB payload being built: values are appended, parents after their children."""

    def __init__(self) -> None:
        self.buf = bytearray(8)  # header, root filled in last

    def _raw(self, data: bytes, align: int) -> int:
        self.buf += b"\0" * (-len(self.buf) % align)
        offset = len(self.buf)
        if offset > 0x0FFFFFFF:
            raise ValueError("package metadata over 256 MiB")
        self.buf += data
        return offset

    def blob(self, data: bytes | str) -> int:
        b = data.encode() if isinstance(data, str) else data
        if not b:
            return NULL
        if len(b) <= 0xFF:
            return T_BLOB8 << 28 | self._raw(struct.pack("<B", len(b)) + b, 1)
        if len(b) <= 0xFFFF:
            return T_BLOB16 << 28 | self._raw(struct.pack("<H", len(b)) + b, 2)
        return T_BLOB32 << 28 | self._raw(struct.pack("<I", len(b)) + b, 4)

    def int(self, n: int) -> int:
        if n < 0x10000000:
            return T_INT << 28 | n
        return T_INT32 << 28 | self._raw(struct.pack("<I", n), 4)

    def obj(self, slots: list[int], kind: int = T_OBJECT) -> int:
        """slots[0] is field 1; trailing nulls are dropped; an empty object is null."""
        while slots and slots[-1] == NULL:
            slots = slots[:-1]
        if not slots:
            return NULL
        return kind << 28 | self._raw(struct.pack(f"<{len(slots) + 1}I", len(slots) + 1, *slots), 4)

    def arr(self, items: list[int]) -> int:
        return self.obj([i for i in items if i != NULL], T_ARRAY)


def _dependency(db: _Adb, spec: str) -> int:
    """`name` or `name=version` (the only forms this package uses)."""
    name, sep, ver = spec.partition("=")
    if not name or any(c in name for c in "<>~!") or (sep and not ver):
        raise ValueError(f"unsupported dependency {spec!r} (expected NAME or NAME=VERSION)")
    return db.obj([db.blob(name), db.blob(ver) if sep else NULL])  # match omitted: "=" is the default


def _deps(db: _Adb, specs: tuple[str, ...]) -> int:
    return db.arr([_dependency(db, s) for s in sorted(set(specs), key=lambda s: s.partition("=")[0].encode())])


def _acl(db: _Adb, mode: int) -> int:
    return db.obj([db.int(mode & 0o7777), db.blob("root"), db.blob("root")])


def tree(files: list[File]) -> list[tuple[str, list[File]]]:
    """(directory, its files sorted by name) for every directory, root "" included, sorted
    by name: the order of the paths array, which DATA blocks index into."""
    dirs: dict[str, list[File]] = {"": []}
    for f in files:
        parts = f.path.split("/")
        for i in range(1, len(parts)):
            dirs.setdefault("/".join(parts[:i]), [])
        dirs["/".join(parts[:-1])].append(f)
    return [(d, sorted(dirs[d], key=lambda f: f.path.rsplit("/", 1)[-1].encode()))
            for d in sorted(dirs, key=str.encode)]


def build(pkg: Package, compress: bool = True) -> bytes:
    paths = tree(pkg.files)
    seen: set[str] = set()
    for f in pkg.files:
        if f.path in seen or f.path.startswith("/") or not f.path:
            raise ValueError(f"bad or repeated path {f.path!r}")
        seen.add(f.path)
    db = _Adb()
    dir_vals = []
    for d, files in paths:
        file_vals = [db.obj([db.blob(f.path.rsplit("/", 1)[-1]), _acl(db, f.mode), db.int(len(f.content)),
                             db.int(pkg.mtime), db.blob(hashlib.sha256(f.content).digest())]) for f in files]
        dir_vals.append(db.obj([db.blob(d), _acl(db, 0o755), db.arr(file_vals)]))
    # the unique id is a raw blob of zeros, overwritten below with the payload's hash
    uid = T_BLOB8 << 28 | db._raw(bytes([UNIQUE_ID_LEN]) + bytes(UNIQUE_ID_LEN), 1)
    uid_offset = (uid & 0x0FFFFFFF) + 1
    installed = sum(len(f.content) for f in pkg.files) or 1
    info = db.obj([db.blob(pkg.name), db.blob(pkg.version), uid, db.blob(pkg.description), db.blob(pkg.arch),
                   db.blob(pkg.license), db.blob(pkg.origin), db.blob(pkg.maintainer), db.blob(pkg.url),
                   NULL, NULL, db.int(installed), NULL, NULL, _deps(db, pkg.depends), _deps(db, pkg.provides)])
    unknown = set(pkg.scripts) - set(SCRIPTS)
    if unknown:
        raise ValueError(f"unknown script type(s): {', '.join(sorted(unknown))}")
    scripts = db.obj([db.blob(pkg.scripts.get(s, b"")) for s in SCRIPTS])
    root = db.obj([info, db.arr(dir_vals), scripts])
    struct.pack_into("<BBHI", db.buf, 0, 0, 0, 0, root)
    db.buf[uid_offset:uid_offset + UNIQUE_ID_LEN] = hashlib.sha256(db.buf).digest()[:UNIQUE_ID_LEN]

    out = [struct.pack("<4sI", MAGIC, SCHEMA_PACKAGE), block(BLOCK_ADB, bytes(db.buf))]
    for pi, (_d, files) in enumerate(paths, 1):
        for fi, f in enumerate(files, 1):
            if f.content:
                out.append(block(BLOCK_DATA, struct.pack("<II", pi, fi) + f.content))
    raw = b"".join(out)
    if not compress:
        return raw
    z = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, as apk's "ADBd"
    return b"ADBd" + z.compress(raw) + z.flush()


def block(kind: int, payload: bytes) -> bytes:
    size = 4 + len(payload)
    if size > 0x3FFFFFFF:
        raise ValueError("block over 1 GiB (apk's extended blocks are not written)")
    return struct.pack("<I", kind << 30 | size) + payload + b"\0" * (-size % 8)
