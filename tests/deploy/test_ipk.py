"""The .ipk that deploy/openwrt/build.py makes: container, control fields, conffiles,
maintainer scripts, file layout, and the installed tree actually working (imports, the UCI
helper producing a config dnsfilter loads)."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from dnsfilter import config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy/openwrt"))
import build  # noqa: E402  (deploy/openwrt/build.py is a script, not a package)

SITE = "usr/lib/python3.11/site-packages"


def outer_members(blob: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        assert tar.getnames() == ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]
        return {m.name[2:]: tar.extractfile(m).read() for m in tar.getmembers()}


def inner(blob: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def read(blob: bytes, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        return tar.extractfile(name).read().decode()


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("ipk")
    path = build.build(out, "3.11")
    return path, outer_members(path.read_bytes())


def test_container(package):
    """ipkg-build's gzipped tar, the only container OpenWrt's opkg reads (it rejects the
    Debian-style ar archive as "Malformed package file", so build.py no longer writes one)."""
    path, parts = package
    assert path.name == f"dnsfilter_{build.version()}-r1_all.ipk"
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert parts["debian-binary"] == b"2.0\n"
    assert set(parts) == {"debian-binary", "control.tar.gz", "data.tar.gz"}
    r = subprocess.run([sys.executable, str(ROOT / "deploy/openwrt/build.py"), "--ar"], capture_output=True, text=True)
    assert r.returncode == 2 and "unrecognized arguments: --ar" in r.stderr


def test_control_fields(package):
    _, parts = package
    ctl = parts["control.tar.gz"]
    assert set(inner(ctl)) == {"./control", "./conffiles", "./postinst", "./prerm"}
    fields = dict(line.split(": ", 1) for line in read(ctl, "./control").splitlines())
    assert fields["Package"] == "dnsfilter"
    assert fields["Version"] == f"{build.version()}-r1"
    assert fields["Architecture"] == "all"
    deps = [d.strip() for d in fields["Depends"].split(",")]
    for dep in ("python3-light", "python3-flask", "python3-requests", "python3-ctypes"):
        assert dep in deps
    assert "python3-pyroute2" not in deps  # nothing imports it at run time (docs/deploy.md)
    assert [d for d in deps if d != "libc"] == list(build.DEPENDS) == makefile_depends()
    assert "dnslib" not in fields["Depends"]  # only the tests use it
    # as ipkg-build computes it: the size of the uncompressed data tar
    assert int(fields["Installed-Size"]) == len(gzip.decompress(parts["data.tar.gz"]))
    assert fields["Maintainer"] == build.MAINTAINER == makefile_value("PKG_MAINTAINER")
    assert fields["License"] == makefile_value("PKG_LICENSE") == "GPL-3.0-or-later"
    assert fields["LicenseFiles"] == makefile_value("PKG_LICENSE_FILES") == "LICENSE"
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("GNU GENERAL PUBLIC LICENSE\n                       Version 3")
    assert read(ctl, "./conffiles") == "/etc/config/dnsfilter\n"


def makefile_value(name: str) -> str:
    text = (Path(build.__file__).parent / "Makefile").read_text()
    return next(ln.split(":=", 1)[1].strip() for ln in text.splitlines() if ln.startswith(f"{name}:="))


def makefile_depends() -> list[str]:
    """The DEPENDS of the packages-feed Makefile, in order (continuation lines joined)."""
    text = (Path(build.__file__).parent / "Makefile").read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("DEPENDS:="))
    return [d.lstrip("+") for d in line.split(":=", 1)[1].split()]


def test_maintainer_scripts(package):
    _, parts = package
    ctl = parts["control.tar.gz"]
    members = inner(ctl)
    for name, call in (("./postinst", "default_postinst $0 $@"), ("./prerm", "default_prerm $0 $@")):
        assert members[name].mode == 0o755
        text = read(ctl, name)
        assert text.startswith("#!/bin/sh\n") and call in text and ". ${IPKG_INSTROOT}/lib/functions.sh" in text
        assert subprocess.run(["sh", "-n"], input=text, text=True).returncode == 0
    assert 'IPKG_NO_SCRIPT}" = "1" ] && exit 0' in read(ctl, "./postinst")
    # on a router (not an image build), the install ends with where the web UI is
    assert '[ -z "${IPKG_INSTROOT}" ] && /etc/init.d/dnsfilter info' in read(ctl, "./postinst")


def test_data_layout(package):
    _, parts = package
    members = inner(parts["data.tar.gz"])
    for path, mode in (("./etc/init.d/dnsfilter", 0o755), ("./etc/config/dnsfilter", 0o600),
                       ("./etc/uci-defaults/90-dnsfilter", 0o755), ("./usr/bin/dnsfilter", 0o755),
                       ("./usr/libexec/dnsfilter-uci", 0o755), (f"./{SITE}/dnsfilter/router/uci.py", 0o644),
                       (f"./{SITE}/feeds/services.toml", 0o644), (f"./{SITE}/dnsfilter/data/starter.txt", 0o644),
                       ("./lib/upgrade/keep.d/dnsfilter", 0o644)):
        assert members[path].mode == mode, path
        assert members[path].uid == 0 and members[path].gid == 0
    assert not [n for n in members if "__pycache__" in n or n.endswith(".pyc")]
    # the host's compiled query path (make native) is not for the router: it runs the .py files
    assert not [n for n in members if n.endswith(".so") or n.endswith("/native.json")]
    assert f"./{SITE}/dnsfilter/core/engine.py" in members
    assert not [n for n in members if "dnslib" in n]  # a test oracle, not shipped (tests/unit/test_runtime_deps.py)
    assert members[f"./{SITE}"].isdir()


def test_archives_are_reproducible(package):
    """Same input, same bytes: fixed mtimes, owners and order (the repository itself is being
    edited while tests run, so this checks the archive writer on fixed input and the times in
    the built package rather than building the live tree twice)."""
    files = [("b/x.py", b"x", 0o644), ("a/y", b"yy", 0o755)]
    assert build.targz(files) == build.targz(list(reversed(files)))
    _, parts = package
    for blob in (parts["data.tar.gz"], parts["control.tar.gz"]):
        assert {(m.mtime, m.uname, m.gname) for m in inner(blob).values()} == {(0, "", "")}
        assert gzip.decompress(blob)


def test_installed_tree_works(package, tmp_path):
    """Unpack data.tar.gz as a router root and run the packaged helper with the packaged
    modules only (no repository on the path)."""
    _, parts = package
    with tarfile.open(fileobj=io.BytesIO(parts["data.tar.gz"]), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    site = tmp_path / SITE
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    out = tmp_path / "config.toml"
    r = subprocess.run([sys.executable, "-S", str(tmp_path / "usr/libexec/dnsfilter-uci"),
                        str(tmp_path / "etc/config/dnsfilter"), str(out)],
                       env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "DNSFILTER_MODE=forward" in r.stdout
    assert config.load(out).feeds[0].url == "builtin:starter"
    # the package's modules, and no other site-packages: dnslib is not there and not needed
    r = subprocess.run([sys.executable, "-S", "-c", "import dnsfilter.cli, feeds.sync, importlib.util; "
                        "print(dnsfilter.__file__, importlib.util.find_spec('dnslib'))"],
                       env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith(str(site)) and r.stdout.split()[1] == "None", r.stderr
    r = subprocess.run([sys.executable, "-S", str(tmp_path / "usr/bin/dnsfilter"), "config", "check", "-c", str(out)],
                       env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
