"""The `[dns]` keys about upstream resolvers: `upstreams`, `bootstrap`, `upstream_policy` and
`tls_ca_file`, checked together, and what `config check` warns about (encrypted and plain
upstreams mixed: when the encrypted ones fail, queries would go in the clear)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from dnsfilter.config.values import N_, ConfigError, Listen, Section
from dnsfilter.core.dns.upstream_spec import UpstreamError, UpstreamSpec, parse_upstream

DEFAULT_UPSTREAMS = ("9.9.9.9", "1.1.1.1")
# Quad9's two plain addresses: they answer the DoH/DoT host names of the upstream list only.
DEFAULT_BOOTSTRAP = ("9.9.9.9", "149.112.112.112")
DEFAULT_BOOTSTRAP_SPECS = tuple(parse_upstream(t) for t in DEFAULT_BOOTSTRAP)
POLICIES = ("any", "encrypted-only")
WILDCARDS = ("0.0.0.0", "::")


def parse(s: Section, listen: tuple[Listen, ...], folder: Path) -> dict[str, Any]:
    """The upstream keys of `[dns]` as Dns fields; relative paths are against `folder`."""
    ups = _specs(s, "upstreams", DEFAULT_UPSTREAMS)
    if not ups:
        raise ConfigError(s.key("upstreams"), N_("needs at least one upstream resolver"))
    policy = s.get("upstream_policy", str, "any")
    if policy not in POLICIES:
        raise ConfigError(s.key("upstream_policy"), N_("must be \"any\" or \"encrypted-only\""))
    if policy == "encrypted-only":
        for i, u in enumerate(ups):
            if u.kind == "dns":
                raise ConfigError(f"{s.key('upstreams')}[{i}]",
                                  N_("%(value)r is plain DNS, which upstream_policy = \"encrypted-only\" forbids: "
                                     "use a tls:// or https:// resolver"), value=u.text)
    boot = _specs(s, "bootstrap", DEFAULT_BOOTSTRAP)
    for i, b in enumerate(boot):
        key = f"{s.key('bootstrap')}[{i}]"
        if b.kind != "dns":
            raise ConfigError(key, N_("%(value)r: bootstrap servers are plain DNS, IP[:PORT]"), value=b.text)
        if any(b.port == lst.port and (b.host == lst.host or (lst.host in WILDCARDS and _loopback(b.host)))
               for lst in listen if not lst.interface):
            raise ConfigError(key, N_("%(value)r is this resolver's own address: bootstrap lookups must not "
                                      "come back to it"), value=b.text)
    named = next((u for u in ups if not u.is_ip), None)
    if named is not None and not boot:
        raise ConfigError(s.key("bootstrap"), N_("is empty, but %(value)s names a host: give bootstrap servers, "
                                                 "or write its address with #tls-name "
                                                 "(e.g. https://9.9.9.9/dns-query#dns.quad9.net)"), value=named.text)
    ca = s.get("tls_ca_file", str, "")
    if ca:
        ca = str(folder / ca) if not Path(ca).is_absolute() else ca
        check_ca_file(ca, s.key("tls_ca_file"))
    return {"upstreams": ups, "bootstrap": boot, "upstream_policy": policy, "tls_ca_file": ca}


def _loopback(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_loopback


def _specs(s: Section, name: str, default: tuple[str, ...]) -> tuple[UpstreamSpec, ...]:
    out = []
    for i, text in enumerate(s.strings(name, default)):
        try:
            out.append(parse_upstream(text))
        except UpstreamError as e:  # its message id and parameters go on, for the web UI to translate
            # words=(): none of its parameters is a message id; said outright, so that no
            # parameter can ever land on `words`
            raise ConfigError(f"{s.key(name)}[{i}]", e.message, words=(), **e.params) from None
    return tuple(out)


def check_ca_file(path: str, key: str) -> None:
    """A readable PEM file with at least one certificate, or ConfigError saying why not."""
    import ssl  # here: a daemon without TLS upstreams never loads it (shell/tlsload.py)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # empty: only the file's certificates count
    try:
        ctx.load_verify_locations(cafile=path)
    except FileNotFoundError:
        raise ConfigError(key, N_("%(path)s: no such file"), path=path) from None
    except ssl.SSLError as e:  # before OSError: SSLError is one
        raise ConfigError(key, N_("%(path)s holds no certificate in PEM form (%(detail)s)"), path=path,
                          detail=e.reason or str(e)) from None
    except OSError as e:
        raise ConfigError(key, N_("cannot read %(path)s: %(reason)s"), path=path,
                          reason=e.strerror or type(e).__name__) from None
    if not ctx.get_ca_certs():
        raise ConfigError(key, N_("%(path)s holds no CA certificate"), path=path)


def encrypted(spec: UpstreamSpec) -> bool:
    return spec.kind in ("tls", "https")


def mixed(upstreams: tuple[UpstreamSpec, ...]) -> tuple[list[str], list[str]] | None:
    """(encrypted, plain) upstream texts when both kinds are in the list, else None."""
    enc = [u.text for u in upstreams if encrypted(u)]
    plain = [u.text for u in upstreams if not encrypted(u)]
    return (enc, plain) if enc and plain else None


def warnings(upstreams: tuple[UpstreamSpec, ...]) -> list[str]:
    """What `config check` and the daemon's start say about a valid but risky upstream list."""
    both = mixed(upstreams)
    if both is None:
        return []
    return [f"dns.upstreams: encrypted ({', '.join(both[0])}) and plain ({', '.join(both[1])}) upstreams are "
            "mixed: when the encrypted ones fail, queries go in the clear to the plain ones; set "
            'upstream_policy = "encrypted-only" (and drop the plain ones) to forbid that']
