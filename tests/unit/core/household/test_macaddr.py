from __future__ import annotations

import base64
import struct

import pytest

from dnsfilter.core.dns import wire
from dnsfilter.core.household.macaddr import (
    OPT_DNSMASQ_MAC,
    OPT_NOMINUM_DEVICE,
    OuiTable,
    client_hints,
    is_random,
    normalise_mac,
    oui_table,
    vendor,
)


@pytest.mark.parametrize("text", ["aa:bb:cc:dd:ee:0f", "AA-BB-CC-DD-EE-0F", "aabb.ccdd.ee0f", "AABBCCDDEE0F",
                                  " aa:bb:cc:dd:ee:f ", "aa-bb-cc-dd-ee-f"])
def test_normalise(text: str) -> None:
    assert normalise_mac(text) == "aa:bb:cc:dd:ee:0f"


@pytest.mark.parametrize("text", ["", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:00", "aa:bb-cc:dd:ee:ff", "gg:bb:cc:dd:ee:ff",
                                  "aabbccddeeff00", "aab.bccd.deef", "aaa:bb:cc:dd:ee:ff", "aa::cc:dd:ee:ff"])
def test_normalise_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a MAC address"):
        normalise_mac(text)


def test_random() -> None:
    assert is_random("da:a1:19:00:00:01")  # 0xda: locally administered (private Wi-Fi address)
    assert is_random("02:00:00:00:00:01")
    assert not is_random("b8:27:eb:00:00:01")
    assert not is_random("00:1b:63:00:00:01")


def test_vendor() -> None:
    assert vendor("b8:27:eb:12:34:56") == "Raspberry Pi"
    assert vendor("DC-A6-32-12-34-56") == "Raspberry Pi"
    assert vendor("3c:07:54:00:00:01") == "Apple"
    assert vendor("24:0a:c4:00:00:01") == "Espressif"
    assert vendor("00:09:bf:00:00:01") == "Nintendo"
    assert vendor("fe:ed:00:00:00:01") is None  # locally administered: no vendor
    assert vendor("01:00:5e:00:00:01") is None  # multicast
    assert vendor("not a mac") is None


def test_bundled_table_is_sane() -> None:
    table = oui_table()
    assert 200 <= len(table.vendors) <= 2000
    for prefix in table.vendors:
        assert len(prefix) == 6 and not int(prefix[:2], 16) & 0x03  # universal, unicast
    for name in ("Apple", "Samsung", "Google", "Amazon", "Xiaomi", "Huawei", "Intel", "Raspberry Pi",
                 "TP-Link", "Sony", "Nintendo", "LG Electronics", "Microsoft", "Realtek", "Espressif"):
        assert name in table.vendors.values()


def test_table_parse_skips_bad_lines() -> None:
    t = OuiTable.parse("# comment\nB827EB Raspberry Pi\nXYZ123 Bad\nAABBCC\n00-1B-63 Apple  # trailing\n")
    assert t.vendors == {"b827eb": "Raspberry Pi", "001b63": "Apple"}


def opt(code: int, data: bytes) -> bytes:
    return struct.pack(">HH", code, len(data)) + data


def ecs(family: int, source: int, addr: bytes) -> bytes:
    return opt(wire.OPT_ECS, struct.pack(">HBB", family, source, 0) + addr)


def test_client_hints_raw_mac_and_ecs_v4() -> None:
    rdata = opt(OPT_DNSMASQ_MAC, bytes.fromhex("3c22fb010203")) + ecs(1, 32, bytes([192, 168, 1, 23]))
    assert client_hints(rdata) == ("3c:22:fb:01:02:03", "192.168.1.23")


def test_client_hints_text_and_base64_mac() -> None:
    # dnsmasq --add-mac=text / --add-mac=base64 put these in option 65073, not 65001
    assert client_hints(opt(OPT_NOMINUM_DEVICE, b"3c:22:fb:01:02:03")) == ("3c:22:fb:01:02:03", None)
    b64 = base64.b64encode(bytes.fromhex("3c22fb010203"))
    assert b64 == b"PCL7AQID"  # 8 characters, as dnsmasq's own encoder writes them
    assert client_hints(opt(OPT_NOMINUM_DEVICE, b64)) == ("3c:22:fb:01:02:03", None)
    assert client_hints(opt(OPT_DNSMASQ_MAC, b64)) == ("3c:22:fb:01:02:03", None)
    assert client_hints(opt(OPT_DNSMASQ_MAC, b"\xff\xfe\x00")) == (None, None)


def test_client_hints_ecs_only_for_one_host() -> None:
    v6 = bytes.fromhex("fd000000000000000000000000000017")
    assert client_hints(ecs(2, 128, v6)) == (None, "fd00::17")
    assert client_hints(ecs(1, 24, bytes([192, 168, 1]))) == (None, None)  # a subnet, not a device
    assert client_hints(ecs(1, 0, b"")) == (None, None)
    assert client_hints(ecs(1, 32, bytes([192, 168, 1]))) == (None, None)  # address too short
    assert client_hints(opt(wire.OPT_ECS, b"\x00")) == (None, None)


def test_client_hints_other_and_truncated_options() -> None:
    cookie = opt(wire.OPT_COOKIE, b"12345678")
    assert client_hints(cookie) == (None, None)
    assert client_hints(b"") == (None, None)
    truncated = cookie + struct.pack(">HH", OPT_DNSMASQ_MAC, 6) + b"\x3c\x22"
    assert client_hints(truncated) == (None, None)


def test_client_hints_from_a_parsed_query() -> None:
    options = opt(OPT_DNSMASQ_MAC, bytes.fromhex("b827eb000001")) + ecs(1, 32, bytes([10, 0, 0, 5]))
    query = (wire.header(0x1234, wire.F_RD, 1, 0, 0, 1) + wire.text_to_wire("example.com")
             + struct.pack(">HH", wire.T_A, wire.C_IN) + wire.opt_record(1232, False, options))
    q = wire.parse_query(query)
    assert q.edns is not None
    assert client_hints(q.edns.options) == ("b8:27:eb:00:00:01", "10.0.0.5")
