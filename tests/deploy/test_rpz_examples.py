"""The RPZ examples in deploy/rpz/ pass each server's own config check (the running servers are
tested in tests/integration/test_rpz_resolvers.py; this also covers bind-in-front.conf, the
TSIG secondary in front of Unbound, which that test does not start)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.rpzservers import KEY_NAME, SECRET, knot_keys, shipped

pytestmark = pytest.mark.skipif(not all(shutil.which(p) for p in ("named-checkconf", "unbound-checkconf", "knotc")),
                                reason="named-checkconf, unbound-checkconf or knotc is not installed")


def _check(cmd: list[str]) -> None:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def _bind_key(tmp: Path) -> Path:
    key = tmp / "dnsfilter-rpz.key"
    key.write_text(f'key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{SECRET}"; }};\n')
    return key


def test_bind_examples(tmp_path: Path) -> None:
    key = _bind_key(tmp_path)
    options = shipped("named-rpz-options.conf", {})
    if "9.18" in subprocess.run(["named", "-v"], capture_output=True, text=True).stdout:
        for word in (" ede censored", " ede blocked", " ede filtered"):  # BIND 9.20 and later only
            options = options.replace(word, "")
    (tmp_path / "options.conf").write_text(options)
    (tmp_path / "zones.conf").write_text(shipped("named-rpz-zones.conf", {"/etc/bind/dnsfilter-rpz.key": str(key)}))
    conf = tmp_path / "named.conf"
    conf.write_text(f'options {{ directory "{tmp_path}"; recursion yes; include "{tmp_path}/options.conf"; }};\n'
                    f'include "{tmp_path}/zones.conf";\n')
    _check(["named-checkconf", str(conf)])
    front = tmp_path / "front.conf"
    front.write_text(shipped("bind-in-front.conf", {"/etc/bind/dnsfilter-rpz.key": str(key),
                                                    '"/var/cache/bind"': f'"{tmp_path}"'}))
    _check(["named-checkconf", str(front)])


def test_unbound_example(tmp_path: Path) -> None:
    rpz = shipped("unbound.conf", {"/var/lib/unbound/": f"{tmp_path}/"})
    conf = tmp_path / "unbound.conf"
    conf.write_text(rpz.replace("server:\n", f'server:\n    directory: "{tmp_path}"\n    chroot: ""\n'
                                              '    username: ""\n', 1))
    _check(["unbound-checkconf", str(conf)])


def test_knot_example(tmp_path: Path) -> None:
    conf = tmp_path / "knot.conf"
    conf.write_text(shipped("knot.conf", {**knot_keys(tmp_path), "/var/lib/knot/rpz": str(tmp_path)}))
    _check(["knotc", "-c", str(conf), "conf-check"])
