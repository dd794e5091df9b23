"""LeaseWatch on real files in a temporary directory, with a hand-driven clock."""

from __future__ import annotations

import os
from pathlib import Path

from dnsfilter.shell.lan.leases_watch import LeaseWatch

DNSMASQ = "2000000000 3c:22:fb:01:02:03 192.168.1.23 arus-ipad *\n"
ODHCPD = "# br-lan 00030001b827ebaabbcc 1 media-pi -1 30 128 fd00::30/128\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str, bump: int = 0) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))  # a visibly new mtime


def test_reads_and_follows_changes(tmp_path: Path) -> None:
    clock = Clock()
    leases = tmp_path / "dhcp.leases"
    write(leases, DNSMASQ)
    w = LeaseWatch([leases], interval=3.0, clock=clock)
    assert w.hostname_of(mac="3c:22:fb:01:02:03") == "arus-ipad"
    assert w.hostname_of(ip="192.168.1.23") == "arus-ipad"
    assert w.macs_of_ip("192.168.1.23") == ("3c:22:fb:01:02:03",)
    write(leases, DNSMASQ.replace("arus-ipad", "arus-tablet"), bump=1)
    clock.now += 1
    assert not w.poll()  # within the interval: no stat at all
    clock.now += 3
    assert w.poll()
    assert w.hostname_of(mac="3c:22:fb:01:02:03") == "arus-tablet"
    clock.now += 3
    assert not w.poll()  # unchanged file: not read again
    assert w.files[0].reads == 2


def test_garbage_keeps_the_last_good_leases(tmp_path: Path) -> None:
    clock = Clock()
    leases = tmp_path / "dhcp.leases"
    write(leases, DNSMASQ)
    w = LeaseWatch([leases], fmt="dnsmasq", clock=clock)
    write(leases, "\x00\x01garbage\nmore garbage here\n", bump=1)
    clock.now += 10
    w.poll()
    assert w.hostname_of(ip="192.168.1.23") == "arus-ipad"
    status = w.status()[0]
    assert "no readable lease" in status["error"] and status["leases"] == 1
    write(leases, DNSMASQ.replace("arus-ipad", "fixed"), bump=2)
    clock.now += 10
    w.poll()
    assert w.hostname_of(ip="192.168.1.23") == "fixed" and w.status()[0]["error"] is None


def test_partly_garbled_file_is_used(tmp_path: Path) -> None:
    leases = tmp_path / "dhcp.leases"
    write(leases, DNSMASQ + "garbage line\n")
    w = LeaseWatch([leases])
    assert w.hostname_of(ip="192.168.1.23") == "arus-ipad"
    assert w.status()[0]["skipped"] == 1


def test_missing_file_keeps_last_leases_and_comes_back(tmp_path: Path) -> None:
    clock = Clock()
    leases = tmp_path / "dhcp.leases"
    w = LeaseWatch([leases], clock=clock)  # not there yet
    assert w.hostname_of(ip="192.168.1.23") is None and "not found" in w.status()[0]["error"]
    write(leases, DNSMASQ)
    clock.now += 5
    w.poll()
    assert w.hostname_of(ip="192.168.1.23") == "arus-ipad"
    leases.unlink()
    clock.now += 5
    w.poll()
    assert w.hostname_of(ip="192.168.1.23") == "arus-ipad"


def test_several_files_of_different_formats(tmp_path: Path) -> None:
    a, b = tmp_path / "dhcp.leases", tmp_path / "odhcpd"
    write(a, DNSMASQ)
    write(b, ODHCPD)
    w = LeaseWatch([a, b])
    assert w.hostname_of(mac="b8:27:eb:aa:bb:cc") == "media-pi"
    assert w.hostname_of(ip="fd00::30") == "media-pi"
    assert [s["format"] for s in w.status()] == ["dnsmasq", "odhcpd"]


def test_expired_leases_drop_out(tmp_path: Path) -> None:
    clock = Clock()
    leases = tmp_path / "dhcp.leases"
    write(leases, f"{int(clock.now) + 30} 3c:22:fb:01:02:03 192.168.1.23 soon-gone *\n")
    w = LeaseWatch([leases], clock=clock)
    assert w.hostname_of(ip="192.168.1.23") == "soon-gone"
    clock.now += 120  # past expiry and past the periodic re-index
    w.poll()
    assert w.hostname_of(ip="192.168.1.23") is None


def test_unknown_format_name_is_reported(tmp_path: Path) -> None:
    leases = tmp_path / "dhcp.leases"
    write(leases, DNSMASQ)
    w = LeaseWatch([leases], fmt="xml")
    assert "unknown lease file format" in w.status()[0]["error"]
