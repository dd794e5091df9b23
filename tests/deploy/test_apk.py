"""The apk v3 package for OpenWrt 25.12 that deploy/openwrt/build.py --apk makes, read back with
tests/deploy/adb_read.py (a reader written from apk-tools 3's format description, not from the
writer): the container, package info, scripts, the file tree with hashes and modes, OpenWrt's
lib/apk/packages metadata, the same payload as the .ipk, and the installed tree working."""

from __future__ import annotations

import hashlib
import importlib
import io
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from dnsfilter import config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy/openwrt"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# by name: whether ruff sorts `build` as first- or third-party depends on a build/ folder
adb_read = importlib.import_module("adb_read")
apk3 = importlib.import_module("apk3")
build = importlib.import_module("build")

SITE = "usr/lib/python3.13/site-packages"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = build.build_apk(tmp_path_factory.mktemp("apk"), "3.13")
    return path, adb_read.read(path.read_bytes())


def test_container(built):
    path, pkg = built
    assert path.name == f"dnsfilter-{build.version()}-r1.apk"
    assert path.read_bytes()[:4] == b"ADBd" and pkg.compressed
    assert pkg.schema == b"pckg" and not pkg.signed


def test_package_info(built):
    _, pkg = built
    info = pkg.meta["info"]
    assert info["name"] == b"dnsfilter" and info["version"] == f"{build.version()}-r1".encode()
    assert info["arch"] == b"noarch" and info["license"] == b"GPL-3.0-or-later"
    deps = [d["name"].decode() for d in info["depends"]]
    assert deps == sorted(deps) and "python3-light" in deps and "python3-flask" in deps and "libc" in deps
    assert "dnslib" not in deps  # only the tests use it
    assert info["maintainer"] == build.MAINTAINER.encode()
    assert all(set(d) == {"name"} for d in info["depends"])  # no version constraints
    assert info["installed-size"] == sum(len(c) for c in pkg.data.values())
    # the unique id: SHA-256 of the ADB block with the id zeroed, first 20 bytes (apk mkpkg)
    uid = info["hashes"]
    assert len(uid) == 20
    zeroed = pkg.adb.replace(uid, bytes(20), 1)
    assert hashlib.sha256(zeroed).digest()[:20] == uid


def test_scripts_match_openwrt_package_pack(built):
    _, pkg = built
    scripts = {k: v.decode() for k, v in pkg.meta["scripts"].items()}
    assert set(scripts) == {"post-install", "post-upgrade", "pre-deinstall"}
    assert "default_postinst" in scripts["post-install"] and 'export pkgname="dnsfilter"' in scripts["post-install"]
    assert '[ -z "${IPKG_INSTROOT}" ] && /etc/init.d/dnsfilter info' in scripts["post-install"]
    assert scripts["post-upgrade"].startswith("#!/bin/sh\nexport PKG_UPGRADE=1\n")
    assert "default_prerm" in scripts["pre-deinstall"]
    for text in scripts.values():
        assert subprocess.run(["sh", "-n"], input=text, text=True).returncode == 0


def test_tree_is_the_ipk_payload_plus_apk_metadata(built):
    _, pkg = built
    ipk_files = {p: (c, m) for p, c, m in build.data_files("3.13")}
    modes = {adb_read.path_of(d, f): f["acl"]["mode"] for d in pkg.meta["paths"] for f in d.get("files", [])}
    meta = {"lib/apk/packages/dnsfilter.list", "lib/apk/packages/dnsfilter.conffiles",
            "lib/apk/packages/dnsfilter.conffiles_static"}
    assert set(modes) == set(ipk_files) | meta
    for p, (content, mode) in ipk_files.items():
        assert modes[p] == mode, p
        assert pkg.data.get(p, b"") == content, p
    assert modes["etc/config/dnsfilter"] == 0o600 and modes["etc/init.d/dnsfilter"] == 0o755
    listing = pkg.data["lib/apk/packages/dnsfilter.list"].decode().splitlines()
    assert listing == sorted(f"/{p}" for p in ipk_files)
    assert pkg.data["lib/apk/packages/dnsfilter.conffiles"] == b"/etc/config/dnsfilter\n"
    digest = hashlib.sha256(ipk_files["etc/config/dnsfilter"][0]).hexdigest()
    assert pkg.data["lib/apk/packages/dnsfilter.conffiles_static"] == f"/etc/config/dnsfilter {digest}\n".encode()
    for d in pkg.meta["paths"]:
        names = [f["name"] for f in d.get("files", [])]
        assert names == sorted(names)
        assert d.get("acl", {}) == {"mode": 0o755, "user": b"root", "group": b"root"}
    dirs = [d.get("name", b"") for d in pkg.meta["paths"]]
    assert dirs == sorted(dirs) and dirs[0] == b"" and b"usr/lib/python3.13/site-packages/dnsfilter" in dirs
    assert not [d for d in dirs if b"dnslib" in d]  # a test oracle, not shipped
    assert b"lib/upgrade/keep.d" in dirs  # sysupgrade keeps /etc/config/dnsfilter and /etc/dnsfilter


def test_same_as_ipk_payload():
    """The .ipk's data.tar.gz and the .apk's tree hold the same files, same bytes."""
    ipk = {p: c for p, c, _ in build.data_files("3.11")}
    apk = {p.replace("python3.13", "python3.11"): c for p, c, _ in build.data_files("3.13")}
    assert ipk == apk


def test_writer_on_fixed_input_is_deterministic_and_exact():
    files = [apk3.File("b/x.py", b"x" * 300, 0o644), apk3.File("a/y", b"", 0o755), apk3.File("z", b"zz", 0o600)]
    pkg = apk3.Package("t", "1.0-r1", "noarch", "d", files, depends=("b", "a"), provides=("t-virt=1.0-r1",))
    one = apk3.build(pkg, compress=False)
    assert one == apk3.build(apk3.Package("t", "1.0-r1", "noarch", "d", list(reversed(files)),
                                          depends=("a", "b"), provides=("t-virt=1.0-r1",)), compress=False)
    read = adb_read.read(one)
    assert not read.compressed
    assert read.data == {"b/x.py": b"x" * 300, "z": b"zz"}  # empty files have no DATA block
    assert [d.get("name", b"") for d in read.meta["paths"]] == [b"", b"a", b"b"]
    assert read.meta["info"]["provides"] == [{"name": b"t-virt", "version": b"1.0-r1"}]
    # blocks: ADB, then DATA for b/x.py (path 3, file 1) and z (path 1, file 1), 8-aligned
    (word,) = struct.unpack_from("<I", one, 8)
    assert word >> 30 == 0 and (8 + (word & 0x3FFFFFFF) + (-word % 8)) % 8 == 0


def _swap_data_blocks(raw: bytes) -> bytes:
    """The two DATA blocks of a two-file package, in the other order."""
    (word,) = struct.unpack_from("<I", raw, 8)
    pos = 8 + (word & 0x3FFFFFFF) + (-word % 8)
    blocks = []
    while pos < len(raw):
        (w,) = struct.unpack_from("<I", raw, pos)
        size = (w & 0x3FFFFFFF) + (-w % 8)
        blocks.append(raw[pos:pos + size])
        pos += size
    return raw[:len(raw) - sum(map(len, blocks))] + b"".join(reversed(blocks))


@pytest.mark.parametrize("damage, why", [
    (lambda b: b[:-9] + bytes([b[-9] ^ 1]) + b[-8:], "does not match its hash"),
    (_swap_data_blocks, "do not follow the tree"),
    (lambda b: b"ADB!" + b[4:], "not an ADB file"),
    (lambda b: b[:100], "runs past the end"),
])
def test_reader_rejects_damaged_packages(damage, why):
    """The reader is live: a flipped byte in a file's data, a bad magic or a cut file fail."""
    pkg = apk3.Package("t", "1.0-r1", "noarch", "d", [apk3.File("etc/x", b"hello world", 0o644),
                                                       apk3.File("etc/a", b"first", 0o644)])
    raw = apk3.build(pkg, compress=False)
    adb_read.read(raw)
    with pytest.raises(adb_read.AdbError, match=why):
        adb_read.read(damage(raw))


def test_writer_refuses_bad_input():
    with pytest.raises(ValueError, match="unsupported dependency"):
        apk3.build(apk3.Package("t", "1", "noarch", "d", [], depends=("a>=1",)))
    with pytest.raises(ValueError, match="bad or repeated path"):
        apk3.build(apk3.Package("t", "1", "noarch", "d", [apk3.File("x", b"", 0o644), apk3.File("x", b"", 0o644)]))
    with pytest.raises(ValueError, match="unknown script"):
        apk3.build(apk3.Package("t", "1", "noarch", "d", [], scripts={"postinst": b"x"}))


def test_installed_tree_works(built, tmp_path):
    """Lay the package out as a router root and run the packaged helper and CLI with the
    packaged modules only (this machine's Python stands in for the router's)."""
    _, pkg = built
    adb_read.extract(pkg, tmp_path)
    site = tmp_path / SITE
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    out = tmp_path / "config.toml"
    r = subprocess.run([sys.executable, "-S", str(tmp_path / "usr/libexec/dnsfilter-uci"),
                        str(tmp_path / "etc/config/dnsfilter"), str(out)],
                       env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert config.load(out).feeds[0].url == "builtin:starter"
    r = subprocess.run([sys.executable, "-S", str(tmp_path / "usr/bin/dnsfilter"), "config", "check", "-c", str(out)],
                       env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "etc/init.d/dnsfilter").stat().st_mode & 0o777 == 0o755


def test_ipk_still_a_tar(tmp_path):
    """--apk is a separate output: the default build is still the 24.10 .ipk."""
    path = build.build(tmp_path, "3.11")
    with tarfile.open(fileobj=io.BytesIO(path.read_bytes()), mode="r:gz") as tar:
        assert "./debian-binary" in tar.getnames()
