"""Upstream resolver addresses as written in the config: parsed once, checked strictly.

    9.9.9.9   9.9.9.9:53   2620:fe::fe   [2620:fe::fe]:53        plain DNS (UDP, TCP on TC)
    tls://1.1.1.1   tls://1.1.1.1:853#cloudflare-dns.com           DNS over TLS (RFC 7858)
    https://dns.quad9.net/dns-query   https://1.1.1.1:8443/dns-query#one.one.one.one   DoH (RFC 8484)

Plain DNS must be an IP literal: resolving a host name would need a resolver, and the
appliance *is* the resolver. tls/https may name a host (found through the `[dns] bootstrap`
servers when connecting, never the system resolver), but an IP plus `#tls-name` avoids that
bootstrap question altogether.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

KINDS = ("dns", "tls", "https")
DEFAULT_PORTS = {"dns": 53, "tls": 853, "https": 443}
DEFAULT_DOH_PATH = "/dns-query"

# The forms, as syntax only (no English words), so a translated message can quote them as they are
FORMS = "IP[:PORT], [IPv6]:PORT, tls://HOST[:PORT][#TLS-NAME], https://HOST[:PORT]/PATH[#TLS-NAME]"
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def N_(message: str) -> str:
    """Marks a message id for the web UI's catalogs (`pybabel extract -k N_`); the core stays
    free of gettext and config imports, so this is its own copy of config_values.N_."""
    return message


class UpstreamError(ValueError):
    """Why an upstream is refused: English text, plus the N_-marked message id and its
    parameters, so the web UI can say it in the page's language (webui.error_text)."""

    def __init__(self, message: str, **params: object) -> None:
        self.message, self.params = message, params
        super().__init__(message % params)


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    kind: str  # 'dns' | 'tls' | 'https'
    host: str  # IP literal (normalised) or lower-case host name (tls/https only)
    port: int
    tls_name: str | None  # name the certificate must carry; None: verify the IP address itself
    path: str  # DoH request path ('/dns-query' by default); '' for dns and tls
    text: str  # as written, for logs and status

    @property
    def is_ip(self) -> bool:
        return _ip(self.host) is not None

    @property
    def server_name(self) -> str:
        """What TLS verifies (and sends as SNI when it is a name)."""
        return self.tls_name or self.host


def parse_upstream(text: str) -> UpstreamSpec:
    """Parse one upstream; raises UpstreamError (a ValueError) with a one-line reason naming the expected forms."""
    if not isinstance(text, str):
        raise UpstreamError(N_("upstream must be a string, not %(kind)s"), kind=type(text).__name__)
    raw = text.strip()
    if not raw:
        raise UpstreamError(N_("empty upstream: expected one of %(forms)s"), forms=FORMS)
    if any(c.isspace() for c in raw):
        raise UpstreamError(N_("upstream %(value)r contains whitespace: expected one of %(forms)s"), value=text, forms=FORMS)
    scheme, sep, rest = raw.partition("://")
    if not sep:
        return _plain(raw, text)
    scheme = scheme.lower()
    if scheme in ("dns", "udp"):
        return _plain(rest, text)
    if scheme == "tls":
        return _tls(rest, text)
    if scheme == "https":
        return _https(rest, text)
    raise UpstreamError(N_("upstream %(value)r: unsupported scheme %(scheme)r: expected one of %(forms)s"),
                        value=text, scheme=scheme, forms=FORMS)


def _plain(rest: str, text: str) -> UpstreamSpec:
    if "/" in rest or "#" in rest or "?" in rest:
        raise UpstreamError(N_("upstream %(value)r: plain DNS takes IP[:PORT] only: expected one of %(forms)s"),
                            value=text, forms=FORMS)
    ip = _ip(rest)  # a bare IPv6 address (its colons are not a port separator)
    if ip is not None:
        return UpstreamSpec("dns", ip, DEFAULT_PORTS["dns"], None, "", text)
    host, port = _host_port(rest, "dns", text)
    ip = _ip(host)
    if ip is None:
        raise UpstreamError(N_("upstream %(value)r: plain DNS needs an IP address, not a host name "
                               "(e.g. 9.9.9.9 or [2620:fe::fe]:53); use tls:// or https:// to name a host"),
                            value=text)
    return UpstreamSpec("dns", ip, port, None, "", text)


def _tls(rest: str, text: str) -> UpstreamSpec:
    rest, tls_name = _fragment(rest, text)
    if "/" in rest or "?" in rest:
        raise UpstreamError(N_("upstream %(value)r: tls:// takes HOST[:PORT][#TLS-NAME], no path"), value=text)
    host, port = _host_port(rest, "tls", text)
    return UpstreamSpec("tls", host, port, _tls_name(host, tls_name), "", text)


def _https(rest: str, text: str) -> UpstreamSpec:
    rest, tls_name = _fragment(rest, text)
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, path = rest[:cut], rest[cut:]
    if "@" in authority:
        raise UpstreamError(N_("upstream %(value)r: user names in DoH URLs are not supported"), value=text)
    host, port = _host_port(authority, "https", text)
    path = path.replace("{?dns}", "")  # RFC 8484 URI template: we POST, the variable is unused
    if path in ("", "/"):
        path = DEFAULT_DOH_PATH
    elif path.startswith("?"):
        path = DEFAULT_DOH_PATH + path
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in path):
        raise UpstreamError(N_("upstream %(value)r: the path must be printable ASCII"), value=text)
    return UpstreamSpec("https", host, port, _tls_name(host, tls_name), path, text)


def _fragment(rest: str, text: str) -> tuple[str, str | None]:
    """Split off `#tls-name`, checked as a host name."""
    rest, sep, name = rest.partition("#")
    if not sep:
        return rest, None
    name = name.rstrip(".").lower()
    if not _is_hostname(name):
        raise UpstreamError(N_("upstream %(value)r: %(name)r after '#' is not a valid TLS host name"),
                            value=text, name=name)
    return rest, name


def _tls_name(host: str, explicit: str | None) -> str | None:
    if explicit is not None:
        return explicit
    return None if _ip(host) is not None else host


def _host_port(s: str, kind: str, text: str) -> tuple[str, int]:
    """HOST, HOST:PORT, [V6] or [V6]:PORT → (normalised host, port)."""
    port = DEFAULT_PORTS[kind]
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise UpstreamError(N_("upstream %(value)r: missing ']' after the IPv6 address"), value=text)
        host, tail = s[1:end], s[end + 1 :]
        ip = _ip(host)
        if ip is None or ":" not in ip:
            raise UpstreamError(N_("upstream %(value)r: %(host)r inside [] is not an IPv6 address"), value=text, host=host)
        if tail:
            if not tail.startswith(":"):
                raise UpstreamError(N_("upstream %(value)r: unexpected %(tail)r after ']': expected one of %(forms)s"),
                                    value=text, tail=tail, forms=FORMS)
            port = _port(tail[1:], text)
        return ip, port
    ip = _ip(s)
    if ip is not None:
        return ip, port
    host, sep, p = s.rpartition(":")
    if not sep:
        host = s
    elif ":" in host:
        raise UpstreamError(N_("upstream %(value)r: put an IPv6 address with a port in brackets, e.g. [2620:fe::fe]:53"),
                            value=text)
    else:
        port = _port(p, text)
    if not host:
        raise UpstreamError(N_("upstream %(value)r: missing host: expected one of %(forms)s"), value=text, forms=FORMS)
    ip = _ip(host)
    if ip is not None:
        return ip, port
    name = host.rstrip(".").lower()
    if not _is_hostname(name) or name.replace(".", "").isdigit():
        raise UpstreamError(N_("upstream %(value)r: %(host)r is neither an IP address nor a valid host name"),
                        value=text, host=host)
    return name, port


def _port(p: str, text: str) -> int:
    if not p.isdigit() or not 0 < int(p) < 65536:
        raise UpstreamError(N_("upstream %(value)r: port %(port)r is not a number from 1 to 65535"), value=text, port=p)
    return int(p)


def _ip(s: str) -> str | None:
    """The normalised text of an IP literal, or None."""
    try:
        return str(ipaddress.ip_address(s))
    except ValueError:
        return None


def _is_hostname(name: str) -> bool:
    if not name or len(name) > 253:
        return False
    return all(_LABEL.match(lab) for lab in name.split("."))
