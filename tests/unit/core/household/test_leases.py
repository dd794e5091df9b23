"""Lease parsers on samples written in each server's real format, garbage included."""

from __future__ import annotations

import pytest

from dnsfilter.core.household.lease import Lease
from dnsfilter.core.household.leases import EMPTY_INDEX, LeaseIndex, detect_format, mac_of_duid, parse_leases

# dnsmasq / OpenWrt /tmp/dhcp.leases: DHCPv4 leases, then the server DUID and DHCPv6 leases.
DNSMASQ = """\
1709848800 3c:22:fb:01:02:03 192.168.1.23 arus-ipad 01:3c:22:fb:01:02:03
1709852400 b8:27:eb:aa:bb:cc 192.168.1.40 * *
0 dc:a6:32:00:00:01 192.168.1.2 pi-hole 01:dc:a6:32:00:00:01
1709848800 06-00:11:22:33:44:55 192.168.1.77 printer *
this line is garbage
1709848800 zz:zz:zz:zz:zz:zz 192.168.1.50 bad-mac *
1709848800 3c:22:fb:01:02:04 192.168.1.999 bad-ip *
duid 00:01:00:01:2c:5f:1e:7a:b8:27:eb:11:22:33
1709848800 3127926 fd00::1:6c arus-ipad 00:01:00:01:2a:3b:4c:5d:3c:22:fb:01:02:03
1709848800 T14409112 fd00::1:6d * 00:04:76:00:cf:ae:b3:0b:fc:cd:0e:22:2e:97:76:65:74:ec
1709848800 notanumber fd00::1:6e x 00:01
"""

# odhcpd state file (/tmp/odhcpd.leases or the leasefile under /tmp/hosts/): DHCPv6 and
# DHCPv4 lease lines, as the newest and older versions write them.
ODHCPD = """\
# br-lan 000100012a3b4c5d3c22fb010203 4a1b2c3d arus-ipad 1709848800 2f 128 fd00::2f/128 2001:db8:1::2f/128
# br-lan 00030001b827ebaabbcc 1 - -1 30 128 fd00::30/128
# br-lan 3c:22:fb:1:2:4 ipv4 teen-phone 1709848800 c0a80118 32 192.168.1.24/32
# br-lan b827ebaabbcc ipv4 broken\\x20Living room TV 1709848800 c0a80119 32 192.168.1.25/32
# br-lan 0001 nothex name 1709848800 1 128 fd00::31/128
# truncated line
"""

# odhcpd hosts file (/tmp/hosts/odhcpd.br-lan): what dnsmasq reads as extra hosts.
ODHCPD_HOSTS = """\
fd00::2f\tarus-ipad.lan\tarus-ipad
192.168.1.24\tteen-phone
not-an-ip\tname
"""

ISC = """\
# The format of this file is documented in the dhcpd.leases(5) manual page.
# This lease file was written by isc-dhcp-4.4.3
authoring-byte-order little-endian;
server-duid "\\000\\001\\000\\001%>\\347\\000\\000\\026>\\336\\233\\260";

lease 192.168.1.23 {
  starts 4 2024/03/07 10:00:00;
  ends 4 2024/03/07 22:00:00;
  cltt 4 2024/03/07 10:00:00;
  binding state active;
  next binding state free;
  rewind binding state free;
  hardware ethernet 3c:22:fb:01:02:03;
  uid "\\001<\\"\\373\\001\\002\\003";
  set vendor-class-identifier = "android-dhcp-13";
  client-hostname "arus-ipad";
}
lease 192.168.1.30 {
  starts 4 2024/03/07 09:00:00;
  ends 4 2024/03/07 09:10:00;
  binding state free;
  hardware ethernet 00:16:3e:ef:a9:c1;
  client-hostname "gone";
}
lease 192.168.1.31 {
  ends never;
  binding state active;
  hardware ethernet 00:16:3e:ef:a9:c2;
  client-hostname "kitchen";
  on expiry { set ClientIP = "x"; }
}
lease 192.168.1.32 {
  ends epoch 1709848800; # Thu Mar 07 22:00:00 2024
  binding state active;
  hardware ethernet 00:16:3e:ef:a9:c3;
}
lease 192.168.1.31 {
  ends 4 2024/03/07 23:00:00;
  binding state active;
  hardware ethernet 00:16:3e:ef:a9:c2;
  client-hostname "kitchen-pc";
}
lease 192.168.1.999 {
  binding state active;
}
lease 192.168.1.33 {
  ends sometime;
  hardware ethernet 00:16:3e:ef:a9:c4;
}
host static-printer {
  dynamic;
  hardware ethernet 00:1b:a9:00:00:01;
  fixed-address 192.168.1.5;
}
lease 192.168.1.34 {
  binding state active;
"""


def by_ip(leases: tuple[Lease, ...]) -> dict[str, Lease]:
    return {ip: lease for lease in leases for ip in lease.ips}


def test_dnsmasq() -> None:
    p = parse_leases(DNSMASQ)
    assert p.fmt == "dnsmasq"
    got = by_ip(p.leases)
    assert got["192.168.1.23"] == Lease("3c:22:fb:01:02:03", ("192.168.1.23",), "arus-ipad", 1709848800.0, None)
    assert got["192.168.1.40"].hostname is None
    assert got["192.168.1.2"].expires is None  # 0: an infinite lease
    assert got["192.168.1.77"].mac is None  # not Ethernet (type 6 prefix)
    v6 = got["fd00::1:6c"]
    assert v6.hostname == "arus-ipad" and v6.duid.startswith("00:01:00:01")
    assert v6.mac == "3c:22:fb:01:02:03"  # from the DUID-LLT
    assert got["fd00::1:6d"].mac is None and got["fd00::1:6d"].duid is not None
    assert p.skipped == 4  # garbage, bad MAC, bad address, bad IAID
    assert len(p.problems) == 4 and p.problems[0].startswith("line 5:")


def test_odhcpd_state() -> None:
    p = parse_leases(ODHCPD)
    assert p.fmt == "odhcpd"
    got = by_ip(p.leases)
    lease = got["fd00::2f"]
    assert lease.ips == ("fd00::2f", "2001:db8:1::2f")
    assert lease.hostname == "arus-ipad" and lease.expires == 1709848800.0
    assert lease.mac == "3c:22:fb:01:02:03" and lease.duid == "00:01:00:01:2a:3b:4c:5d:3c:22:fb:01:02:03"
    infinite = got["fd00::30"]
    assert infinite.expires is None and infinite.hostname is None and infinite.mac == "b8:27:eb:aa:bb:cc"
    assert got["192.168.1.24"].mac == "3c:22:fb:01:02:04"  # ether_ntoa drops leading zeros
    assert got["192.168.1.25"].hostname == "Living room TV"  # odhcpd's "broken" name, spaces and all
    assert got["192.168.1.25"].mac == "b8:27:eb:aa:bb:cc"
    assert p.skipped == 2  # bad IAID, truncated line


def test_odhcpd_hosts_file() -> None:
    p = parse_leases(ODHCPD_HOSTS)
    assert p.fmt == "odhcpd"
    got = by_ip(p.leases)
    assert got["fd00::2f"].hostname == "arus-ipad" and got["fd00::2f"].mac is None
    assert got["192.168.1.24"].hostname == "teen-phone"
    assert p.skipped == 1


def test_isc() -> None:
    p = parse_leases(ISC)
    assert p.fmt == "isc"
    got = by_ip(p.leases)
    assert got["192.168.1.23"] == Lease("3c:22:fb:01:02:03", ("192.168.1.23",), "arus-ipad", 1709848800.0, None)
    assert "192.168.1.30" not in got  # binding state free
    assert got["192.168.1.31"].hostname == "kitchen-pc"  # the last declaration wins
    assert got["192.168.1.31"].expires == 1709852400.0
    assert got["192.168.1.32"].expires == 1709848800.0 and got["192.168.1.32"].hostname is None
    assert got["192.168.1.5"].hostname == "static-printer" and got["192.168.1.5"].mac == "00:1b:a9:00:00:01"
    # bad address, bad date, unterminated last declaration
    assert p.skipped == 3
    assert any("not closed" in why for why in p.problems)


def test_isc_ends_never() -> None:
    p = parse_leases("lease 10.0.0.9 {\n ends never;\n hardware ethernet 00:16:3e:00:00:09;\n}\n", "isc")
    assert p.leases[0].expires is None and p.skipped == 0


@pytest.mark.parametrize("text, fmt", [(DNSMASQ, "dnsmasq"), (ODHCPD, "odhcpd"), (ODHCPD_HOSTS, "odhcpd"),
                                       (ISC, "isc"), ("", None), ("\n\n", None), ("hello world\n", None)])
def test_detect(text: str, fmt: str | None) -> None:
    assert detect_format(text) == fmt


def test_unrecognised_and_empty() -> None:
    assert parse_leases("") == parse_leases("", "auto")
    empty = parse_leases("")
    assert empty.leases == () and empty.skipped == 0
    junk = parse_leases("hello world\nmore junk\n")
    assert junk.fmt == "unknown" and junk.skipped == 2 and junk.leases == ()
    with pytest.raises(ValueError, match="unknown lease file format"):
        parse_leases("", "csv")


@pytest.mark.parametrize("fmt", ["dnsmasq", "odhcpd", "isc"])
def test_binary_garbage_never_raises(fmt: str) -> None:
    garbage = bytes(range(256)).decode("latin-1") * 3 + '\n{{{ "unterminated\n}}};;;\n'
    p = parse_leases(garbage, fmt)
    assert p.leases == () or all(isinstance(le, Lease) for le in p.leases)


def test_hostnames_with_control_characters_are_dropped() -> None:
    p = parse_leases("1709848800 3c:22:fb:01:02:03 192.168.1.23 bad\x1bname *\n", "dnsmasq")
    assert p.leases[0].hostname is None


def test_mac_of_duid() -> None:
    assert mac_of_duid(bytes.fromhex("00030001b827ebaabbcc")) == "b8:27:eb:aa:bb:cc"
    assert mac_of_duid(bytes.fromhex("000100012a3b4c5d3c22fb010203")) == "3c:22:fb:01:02:03"
    assert mac_of_duid(bytes.fromhex("0004760000cfaeb30bfccd0e222e977665")) is None  # DUID-UUID
    assert mac_of_duid(bytes.fromhex("00020000")) is None


def test_index() -> None:
    leases = list(parse_leases(DNSMASQ).leases) + list(parse_leases(ODHCPD).leases)
    idx = LeaseIndex.build(leases)
    assert idx.hostname_of(mac="3c:22:fb:01:02:03") == "arus-ipad"
    assert idx.hostname_of(ip="192.168.1.2") == "pi-hole"
    assert idx.hostname_of(mac="00:00:00:00:00:01", ip="fd00::1:6c") == "arus-ipad"
    assert idx.hostname_of() is None
    assert idx.macs_of_ip("192.168.1.23") == ("3c:22:fb:01:02:03",)
    assert idx.macs_of_ip("10.9.9.9") == ()
    # the 192.168.1.40 lease expired at 1709852400: gone when `now` is later
    later = LeaseIndex.build(leases, now=1709852401.0)
    assert later.macs_of_ip("192.168.1.40") == () and later.hostname_of(ip="192.168.1.2") == "pi-hole"
    assert EMPTY_INDEX.hostname_of(mac="3c:22:fb:01:02:03") is None


def test_index_prefers_named_and_latest() -> None:
    a = Lease("aa:aa:aa:aa:aa:01", ("10.0.0.1",), None, 200.0, None)
    b = Lease("aa:aa:aa:aa:aa:01", ("fd00::1",), "laptop", 100.0, None)
    c = Lease("aa:aa:aa:aa:aa:02", ("10.0.0.1",), "phone", 300.0, None)
    idx = LeaseIndex.build([a, b, c])
    assert idx.hostname_of(mac="aa:aa:aa:aa:aa:01") == "laptop"
    assert idx.hostname_of(ip="10.0.0.1") == "phone"
    assert idx.macs_of_ip("10.0.0.1") == ("aa:aa:aa:aa:aa:02", "aa:aa:aa:aa:aa:01")
