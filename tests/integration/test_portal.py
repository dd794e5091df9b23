"""The child's page and the block page against the real daemon, over plain HTTP from two
devices in different profiles (loopback sources): each sees only its own; block-page profiles'
blocked names point at the portal; asking, its limits and its refusals; authority names cannot
be asked for; hostile requests change nothing."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import addrs, ede
from tests.support.portal import KID, STRANGER, TEEN, ZONE, Household, running_household, wait_for
from tests.support.scripted import Scripted

pytestmark = pytest.mark.integration


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Household]:
    with Scripted(zone=dict(ZONE)) as up, running_household(tmp_path, up.port) as h:
        yield h


def test_each_device_sees_only_its_own_page(home: Household) -> None:
    assert addrs(home.ask_dns("casino.example.test", KID)) == ["127.0.0.1"]  # Kids: to the block page
    home.ask_dns("chat.example.test", TEEN)
    status, headers, kid = home.get(source=KID)
    wait_for("the kid's block in the log", lambda: "casino.example.test" in home.get(source=KID)[2])
    status, headers, kid = home.get(source=KID)
    assert status == 200 and "no-store" in headers["cache-control"] and "script-src" not in headers[
        "content-security-policy"]
    assert "Aru&#x27;s tablet" in kid and "Kids" in kid and "Betting and casino sites" in kid
    assert "YouTube" in kid and "0 of 30 minutes used" in kid
    assert "Dana" not in kid and "Teens" not in kid and "chat.example.test" not in kid
    _s, _h, teen = home.get(source=TEEN)
    assert "Dana&#x27;s phone" in teen and "Teens" in teen
    assert "Aru" not in teen and "casino.example.test" not in teen and "Kids" not in teen
    # Teens' privacy is counts: no names are kept, and the page says so instead of listing any
    assert "chat.example.test" not in teen and "Site names are not recorded for this device" in teen
    assert 'href="tel:111"' in kid and 'href="tel:150"' in kid and "https://safekaznet.kz/" in kid


def test_block_page_over_plain_http(home: Household) -> None:
    r = home.ask_dns("game.example.test", KID)
    assert addrs(r) == ["127.0.0.1"] and ede(r)[0][0] == 15
    assert addrs(home.ask_dns("game.example.test", KID, "AAAA")) == []  # no IPv6 portal address: no data, never ::
    status, headers, page = home.get("/some/path?x=1", source=KID, host="game.example.test")
    assert status == 403 and "game.example.test" in page and "Your family closed this site." in page
    assert 'action="/_dnsfilter/ask"' in page and 'value="game.example.test"' in page
    _s, _h, ru = home.get("/", source=KID, host="game.example.test", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    assert "Этот сайт закрыт на этом устройстве" in ru and '<html lang="ru">' in ru
    # the switch: a link sets the language, a cookie keeps it
    _s, h, kk = home.get("/?lang=kk", source=KID, host="game.example.test")
    assert '<html lang="kk">' in kk and "dnsfilter_lang=kk" in h["set-cookie"]
    _s, _h, kk2 = home.get("/", source=KID, host="game.example.test", headers={"Cookie": "dnsfilter_lang=kk"})
    assert '<html lang="kk">' in kk2
    # a picture or a script of a closed site gets nothing, not a page inside a page
    status, _h, body = home.get("/ad.png", source=KID, host="casino.example.test",
                                headers={"Sec-Fetch-Dest": "image"})
    assert (status, body) == (204, "")
    # Teens do not block this name: their DNS answer is the site's, and the page says it is open
    assert addrs(home.ask_dns("game.example.test", TEEN)) == ["192.0.2.20"]
    status, _h, page = home.get("/", source=TEEN, host="game.example.test")
    assert status == 200 and "This site is open for you now" in page


def test_ask_dedupe_and_limits(home: Household) -> None:
    status, where = home.ask("game.example.test", KID)
    assert status == 303 and where.endswith("/why?sent=1")
    _s, _h, page = home.get(where.split(f"127.0.0.1:{home.portal}", 1)[1], source=KID)
    assert "Your request for game.example.test was sent to a parent" in page and "waiting for an answer" in page
    assert home.ask("https://GAME.example.test/level/2", KID)[1].endswith("sent=1")  # the same request again
    [r] = home.requests()
    assert {k: r[k] for k in ("id", "device", "name", "kind", "state")} == {
        "id": 1, "device": KID, "name": "game.example.test", "kind": "site", "state": "open"}
    assert (r["label"], r["profile"], r["wanted"], r["category"]) == ("Aru's tablet", "Kids", "1h", "custom")
    for i in range(1, 5):
        assert "sent=" in home.ask(f"s{i}.test", KID)[1]
    assert home.ask("s5.test", KID)[1].endswith("refused=too_many_open")  # a sixth open one
    _s, _h, page = home.get("/why?refused=too_many_open", source=KID)
    assert "You have 5 requests waiting for an answer already" in page
    assert len(home.requests()) == 5
    # a name that is open already is not asked for
    assert home.ask("www.example.test", TEEN)[1].endswith("refused=open&name=www.example.test")
    # another device's form token does not work for this one (no request in its name)
    assert home.post({"token": home.token(KID), "kind": "site", "name": "chat.example.test", "for": "1h"},
                     source=TEEN)[1].endswith("refused=expired")
    for bad in ({"name": "not a site"}, {"name": "x.test", "for": "forever"}, {"name": "x.test", "kind": "root"},
                {"kind": "time", "name": "tiktok"}):
        form = {"token": home.token(TEEN), "kind": "site", "for": "1h", **bad}
        assert home.post(form, source=TEEN)[1].endswith("refused=bad"), bad
    assert all(r["device"] == KID for r in home.requests())


def test_an_authority_name_cannot_be_asked_for(home: Household) -> None:
    r = home.ask_dns("banned.example.test", KID)
    assert addrs(r) == ["127.0.0.1"] and ede(r)[0][0] == 16
    status, _h, page = home.get("/", source=KID, host="banned.example.test")
    assert status == 451 and "On Communications, art. 41-1" in page and 'href="https://appeal.example/"' in page
    assert "<form" not in page  # no ask button
    assert home.ask("banned.example.test", KID)[1].endswith("refused=authority&name=banned.example.test")
    _s, _h, page = home.get("/why?refused=authority&name=banned.example.test", source=KID)
    assert "banned.example.test is closed by law: a parent cannot open it." in page
    assert home.requests() == []


def test_hostile_requests_change_nothing(home: Household) -> None:
    def raw(data: bytes, source: str = KID) -> bytes:
        with socket.create_connection(("127.0.0.1", home.portal), timeout=5, source_address=(source, 0)) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out

    assert raw(b"\x16\x03\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(b"POST /_dnsfilter/ask HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n").startswith(
        b"HTTP/1.1 413")
    assert raw(b"DELETE /why HTTP/1.1\r\nHost: dnsfilter.lan\r\n\r\n").startswith(b"HTTP/1.1 405")
    assert raw(b"GET /why HTTP/1.1\r\nHost: dnsfilter.lan\r\n\r\n", STRANGER).startswith(b"HTTP/1.1 403")
    # many idle connections at once: the page still answers a device, and DNS goes on
    idle = [socket.create_connection(("127.0.0.1", home.portal), timeout=5) for _ in range(80)]
    try:
        time.sleep(0.2)
        assert addrs(home.ask_dns("www.example.test", KID)) == ["192.0.2.10"]
    finally:
        for s in idle:
            s.close()
    assert home.get(source=KID)[0] == 200
    assert "Traceback" not in home.daemon.log()
    assert home.daemon.alive()
