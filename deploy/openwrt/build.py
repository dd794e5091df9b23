#!/usr/bin/env python3
"""Build dnsfilter's OpenWrt packages straight from this repository, without the SDK:
the .ipk for OpenWrt 24.10 (opkg) and, with --apk, the .apk for OpenWrt 25.12 (apk-tools v3).

    python3 deploy/openwrt/build.py [--out DIR] [--python 3.11]
    python3 deploy/openwrt/build.py --apk [--out DIR] [--python 3.13]

The package is architecture independent (pure Python): the dnsfilter, feeds and webui
packages go to /usr/lib/pythonX.Y/site-packages (dnslib is not shipped: nothing imports it at
run time, only the tests), and the init script, UCI config, uci-defaults, sysupgrade keep list
and helpers from deploy/openwrt/files go where the SDK Makefile would put them. The container
is what OpenWrt's scripts/ipkg-build writes: a gzipped tar of ./debian-binary, ./data.tar.gz
and ./control.tar.gz, the only form OpenWrt's opkg (opkg-lede) reads (a Debian-style ar
container is "Malformed package file" to it). Installed-Size is the size of the uncompressed
data tar, as ipkg-build computes it. Members are owned by root, sorted, with a fixed mtime,
so two builds of the same tree give the same bytes.

OpenWrt 25.12 uses apk v3 packages (the binary "ADB" format): apk3.py writes them, with the
same payload plus what OpenWrt's include/package-pack.mk adds for apk (lib/apk/packages/
dnsfilter.list, .conffiles, .conffiles_static) and its post-install / post-upgrade /
pre-deinstall scripts. The package is unsigned: `apk add --allow-untrusted FILE`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import tarfile
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import apk3  # beside this script, which is not a package

ROOT = Path(__file__).resolve().parents[2]
FILES = Path(__file__).resolve().parent / "files"
MTIME = 0  # reproducible archives
# The same list as the Makefile's DEPENDS (tests/deploy/test_ipk.py compares them).
DEPENDS = ("python3-light", "python3-flask", "python3-requests", "python3-asyncio",
           "python3-logging", "python3-sqlite3", "python3-openssl", "python3-urllib", "python3-codecs",
           "python3-ctypes", "zoneinfo-all")
RELEASE = 1
MAINTAINER = "dnsfilter developers"  # the Makefile's PKG_MAINTAINER (tests/deploy/test_ipk.py compares them)

# After the install on a router (not in an image build): where things are, the web UI's URL
# first (`/etc/init.d/dnsfilter info` prints it; a router owner without LuCI looks for it).
FIRST_RUN = """[ -z "${IPKG_INSTROOT}" ] && /etc/init.d/dnsfilter info
exit "$rc"
"""
POSTINST = """#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
rc=$?
""" + FIRST_RUN
PRERM = """#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
"""
# default_postinst (OpenWrt's /lib/functions.sh) runs the package's uci-defaults script and
# enables and starts its init scripts; default_prerm stops and disables them.


# OpenWrt 25.12's package-pack.mk (CONFIG_USE_APK) scripts: the same default_postinst /
# default_prerm, told the package name and root through the environment instead of $0.
APK_POST_INSTALL = """#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
export root="${IPKG_INSTROOT}"
export pkgname="dnsfilter"
add_group_and_user
default_postinst
rc=$?
""" + FIRST_RUN
APK_PRE_DEINSTALL = """#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
export root="${IPKG_INSTROOT}"
export pkgname="dnsfilter"
default_prerm
"""
CONFFILES = ("/etc/config/dnsfilter",)


def version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]["version"]


def data_files(python: str) -> list[tuple[str, bytes, int]]:
    """(path inside the package, content, mode) for every installed file."""
    site = f"usr/lib/python{python}/site-packages"
    out: list[tuple[str, bytes, int]] = []
    trees = [(ROOT / "dnsfilter", "dnsfilter"), (ROOT / "feeds", "feeds"), (ROOT / "webui", "webui")]
    for src, name in trees:
        for p in sorted(src.rglob("*")):
            # not the host's compiled query path (make native): the package runs it interpreted
            if (p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo", ".so")
                    and p.name != "native.json"):
                out.append((f"{site}/{name}/{p.relative_to(src).as_posix()}", p.read_bytes(), 0o644))
    for src, dst, mode in (("dnsfilter.bin", "usr/bin/dnsfilter", 0o755),
                           ("dnsfilter-uci", "usr/libexec/dnsfilter-uci", 0o755),
                           ("dnsfilter.init", "etc/init.d/dnsfilter", 0o755),
                           ("dnsfilter.config", "etc/config/dnsfilter", 0o600),
                           ("dnsfilter.uci-defaults", "etc/uci-defaults/90-dnsfilter", 0o755),
                           ("dnsfilter.keep", "lib/upgrade/keep.d/dnsfilter", 0o644)):
        out.append((dst, (FILES / src).read_bytes(), mode))
    return out


def targz(members: list[tuple[str, bytes, int]], keep_order: bool = False) -> bytes:
    """A gzipped tar with ./-prefixed names, directories included, root-owned, sorted
    (or in the given order: the outer container lists debian-binary first, as ipkg-build does)."""
    dirs = sorted({"/".join(path.split("/")[:i]) for path, _, _ in members for i in range(1, path.count("/") + 1)})
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for d in dirs:
            info = tarfile.TarInfo(f"./{d}/")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
            tar.addfile(info)
        for path, content, mode in (members if keep_order else sorted(members)):
            info = tarfile.TarInfo(f"./{path}")
            info.size, info.mode, info.mtime = len(content), mode, MTIME
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=MTIME)


def control(installed_size: int, ver: str) -> str:
    return (f"Package: dnsfilter\n"
            f"Version: {ver}-r{RELEASE}\n"
            f"Depends: libc, {', '.join(DEPENDS)}\n"
            f"Source: deploy/openwrt\n"
            f"SourceName: dnsfilter\n"
            f"License: GPL-3.0-or-later\n"
            f"LicenseFiles: LICENSE\n"
            f"Maintainer: {MAINTAINER}\n"
            f"Section: net\n"
            f"Architecture: all\n"
            f"Installed-Size: {installed_size}\n"
            f"Description: Filtering DNS resolver with per-device profiles, behind dnsmasq or on port 53\n")


def build(out_dir: Path, python: str = "3.11") -> Path:
    files = data_files(python)
    ver = version()
    data = targz(files)
    installed = len(gzip.decompress(data))  # ipkg-build: `zcat data.tar.gz | wc -c`
    ctl = targz([("control", control(installed, ver).encode(), 0o644),
                 ("conffiles", b"/etc/config/dnsfilter\n", 0o644),
                 ("postinst", POSTINST.encode(), 0o755),
                 ("prerm", PRERM.encode(), 0o755)])
    # ipkg-build's order: ./debian-binary ./data.tar.gz ./control.tar.gz
    outer = [("debian-binary", b"2.0\n"), ("data.tar.gz", data), ("control.tar.gz", ctl)]
    blob = targz([(name, content, 0o644) for name, content in outer], keep_order=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"dnsfilter_{ver}-r{RELEASE}_all.ipk"
    path.write_bytes(blob)
    return path


def apk_package(python: str = "3.13") -> apk3.Package:
    """The 25.12 package: the .ipk's files plus OpenWrt's lib/apk/packages metadata."""
    files = data_files(python)
    meta = "lib/apk/packages/dnsfilter"
    # package-pack.mk lists the payload before it adds the conffiles files and the list itself
    listing = "".join(f"/{p}\n" for p in sorted(p for p, _, _ in files))
    contents = {p: c for p, c, _ in files}
    static = "".join(f"{c} {hashlib.sha256(contents[c[1:]]).hexdigest()}\n" for c in CONFFILES)
    files += [(f"{meta}.conffiles", "".join(f"{c}\n" for c in CONFFILES).encode(), 0o644),
              (f"{meta}.conffiles_static", static.encode(), 0o644),
              (f"{meta}.list", listing.encode(), 0o644)]
    post_upgrade = APK_POST_INSTALL.replace("#!/bin/sh\n", "#!/bin/sh\nexport PKG_UPGRADE=1\n", 1)
    return apk3.Package(
        name="dnsfilter", version=f"{version()}-r{RELEASE}", arch="noarch",
        description="Filtering DNS resolver with per-device profiles, behind dnsmasq or on port 53",
        files=[apk3.File(p, c, m) for p, c, m in files], depends=("libc", *DEPENDS),
        license="GPL-3.0-or-later", origin="deploy/openwrt", maintainer=MAINTAINER,
        scripts={"post-install": APK_POST_INSTALL.encode(), "post-upgrade": post_upgrade.encode(),
                 "pre-deinstall": APK_PRE_DEINSTALL.encode()})


def build_apk(out_dir: Path, python: str = "3.13", compress: bool = True) -> Path:
    blob = apk3.build(apk_package(python), compress)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"dnsfilter-{version()}-r{RELEASE}.apk"  # 25.12's default NAME-VERSION.apk
    path.write_bytes(blob)
    return path


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "build"), help="output folder (default: build/)")
    ap.add_argument("--python", default=None,
                    help="the router's Python version (OpenWrt 24.10: 3.11, the default; with --apk: 3.13)")
    ap.add_argument("--apk", action="store_true", help="an apk v3 package for OpenWrt 25.12 instead of the .ipk")
    args = ap.parse_args(argv)
    if args.apk:
        print(build_apk(Path(args.out), args.python or "3.13"))
    else:
        print(build(Path(args.out), args.python or "3.11"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
