"""The portal's HTTP reading: strict, bounded, and every bad input a clear status."""

from __future__ import annotations

import pytest

from dnsfilter.portal.http import MAX_BODY, MAX_HEAD, HttpError, Request, parse_form, parse_head, response


def head(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def test_a_request_head() -> None:
    r = parse_head(head("GET /why?lang=kk&x=1 HTTP/1.1\nHost: Blocked.Example.:80\nAccept-Language: ru\n"
                        "Host: second.example"))
    assert (r.method, r.path, r.query, r.host) == ("GET", "/why", {"lang": "kk", "x": "1"}, "blocked.example")
    assert r.headers["accept-language"] == "ru"  # names lower case; a repeated header keeps the first


def test_hosts_in_every_form() -> None:
    for value, host in (("[fd00::1]:8080", "fd00::1"), ("192.168.1.1", "192.168.1.1"), ("", ""),
                        ("example.org:80", "example.org")):
        assert Request("GET", "/", {}, {"host": value}).host == host


@pytest.mark.parametrize("bad", [
    "GARBAGE", "GET / HTTP/2.0", "get / HTTP/1.1", "GET nopath HTTP/1.1", "GET / HTTP/1.1\nNoColon",
    "GET / HTTP/1.1\nBad Name: x", "GET / HTTP/1.1 extra",
])
def test_bad_heads_are_400(bad: str) -> None:
    with pytest.raises(HttpError) as e:
        parse_head(head(bad))
    assert e.value.status == 400


def test_bounds() -> None:
    with pytest.raises(HttpError):
        parse_head(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD)
    big = Request("POST", "/", {}, {"content-length": str(MAX_BODY + 1)})
    with pytest.raises(HttpError) as e:
        big.content_length()
    assert e.value.status == 413
    with pytest.raises(HttpError):
        Request("POST", "/", {}, {"content-length": "-5"}).content_length()


def test_an_absolute_target_keeps_its_path() -> None:
    assert parse_head(head("GET http://x.example/a/b HTTP/1.1")).path == "/a/b"


def test_forms() -> None:
    r = Request("POST", "/", {}, {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
                body=b"name=%D1%81%D0%B0%D0%B9%D1%82.kz&for=1h")
    assert parse_form(r) == {"name": "сайт.kz", "for": "1h"}
    with pytest.raises(HttpError):
        parse_form(Request("POST", "/", {}, {"content-type": "application/json"}, body=b"{}"))
    with pytest.raises(HttpError):
        parse_form(Request("POST", "/", {}, {"content-type": "application/x-www-form-urlencoded"}, body=b"\xff\xfe"))


def test_responses_carry_the_security_headers_and_nothing_else_unasked() -> None:
    out = response(403, b"<p>x</p>")
    text = out.decode()
    assert text.startswith("HTTP/1.1 403 Forbidden\r\n")
    for h in ("Content-Security-Policy: default-src 'none'", "X-Content-Type-Options: nosniff",
              "Cache-Control: no-store", "Connection: close", "Content-Length: 8"):
        assert h in text
    assert response(200, b"abc", head_only=True).endswith(b"\r\n\r\n")
