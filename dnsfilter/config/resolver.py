"""`[dns]`: where the resolver listens, its upstreams, who may ask, its cache, fast path and limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dnsfilter.config import upstreams as _upstreams
from dnsfilter.config.values import (
    N_,
    BlockMode,
    ConfigError,
    Listen,
    Section,
    parse_block_mode,
    parse_dns_listen,
)
from dnsfilter.config.values import networks as _networks
from dnsfilter.core.dns.upstream_spec import UpstreamSpec

DEFAULT_ALLOWED = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                   "100.64.0.0/10", "fc00::/7", "fe80::/10")


@dataclass(frozen=True, slots=True)
class Dns:
    listen: tuple[Listen, ...] = (Listen("127.0.0.1", 5353), Listen("::1", 5353))
    upstreams: tuple[UpstreamSpec, ...] = ()
    # plain DNS servers that find the DoT/DoH upstreams written as host names, and nothing else
    bootstrap: tuple[UpstreamSpec, ...] = _upstreams.DEFAULT_BOOTSTRAP_SPECS
    upstream_policy: str = "any"  # "encrypted-only": no query in the clear
    tls_ca_file: str = ""  # CA certificates trusted for DoT/DoH besides the system store
    block_mode: BlockMode = BlockMode("null")
    block_ttl: int = 10
    allowed_clients: tuple[str, ...] = DEFAULT_ALLOWED
    ratelimit_qps: int = 1000
    ratelimit_burst: int = 2000
    # Loopback is a local forwarder (dnsmasq on the router): limiting it would limit the whole LAN.
    ratelimit_exempt: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    cache_size: int = 20000
    fastpath_size: int = 50000  # prebuilt UDP answers, all profiles together (~0.5 KB each)
    batch_io: bool = True  # recvmmsg/sendmmsg for UDP (clients, upstreams) where libc has them (shell/mmsg.py)
    min_ttl: int = 0
    max_ttl: int = 86400
    negative_max_ttl: int = 3600
    serve_stale: bool = True
    stale_max_age: int = 86400
    stale_ttl: int = 30
    prefetch: bool = True
    upstream_timeout: float = 2.0
    tcp_idle_timeout: float = 10.0
    tcp_max_connections: int = 256
    max_inflight: int = 2048
    send_client_subnet: bool = False
    workers: int = 1


def parse_dns(s: Section, folder: Path) -> Dns:
    base = Dns()
    listen = tuple(parse_dns_listen(v, f"{s.key('listen')}[{i}]")
                   for i, v in enumerate(s.strings("listen", tuple(map(str, base.listen)))))
    if not listen:
        raise ConfigError(s.key("listen"), N_("needs at least one address"))
    dns = Dns(
        listen=listen,
        **_upstreams.parse(s, listen, folder),
        block_mode=parse_block_mode(s.get("block_mode", str, "null"), s.key("block_mode")),
        block_ttl=s.int_in("block_ttl", base.block_ttl, 0, 86400),
        allowed_clients=_networks(s.strings("allowed_clients", base.allowed_clients), s.key("allowed_clients")),
        ratelimit_qps=s.int_in("ratelimit_qps", base.ratelimit_qps, 0, 10_000_000),
        ratelimit_burst=s.int_in("ratelimit_burst", base.ratelimit_burst, 1, 10_000_000),
        ratelimit_exempt=_networks(s.strings("ratelimit_exempt", base.ratelimit_exempt), s.key("ratelimit_exempt")),
        cache_size=s.int_in("cache_size", base.cache_size, 0, 10_000_000),
        fastpath_size=s.int_in("fastpath_size", base.fastpath_size, 0, 10_000_000),
        batch_io=s.get("batch_io", bool, base.batch_io),
        min_ttl=s.int_in("min_ttl", base.min_ttl, 0, 86400),
        max_ttl=s.int_in("max_ttl", base.max_ttl, 1, 7 * 86400),
        negative_max_ttl=s.int_in("negative_max_ttl", base.negative_max_ttl, 0, 86400),
        serve_stale=s.get("serve_stale", bool, base.serve_stale),
        stale_max_age=s.int_in("stale_max_age", base.stale_max_age, 0, 7 * 86400),
        stale_ttl=s.int_in("stale_ttl", base.stale_ttl, 1, 3600),
        prefetch=s.get("prefetch", bool, base.prefetch),
        upstream_timeout=s.float_in("upstream_timeout", base.upstream_timeout, 0.05, 30.0),
        tcp_idle_timeout=s.float_in("tcp_idle_timeout", base.tcp_idle_timeout, 0.1, 600.0),
        tcp_max_connections=s.int_in("tcp_max_connections", base.tcp_max_connections, 1, 65535),
        max_inflight=s.int_in("max_inflight", base.max_inflight, 1, 1_000_000),
        send_client_subnet=s.get("send_client_subnet", bool, base.send_client_subnet),
        workers=s.int_in("workers", base.workers, 0, 64),
    )
    if dns.min_ttl > dns.max_ttl:
        raise ConfigError(s.key("min_ttl"), N_("must not be above max_ttl"))
    if dns.send_client_subnet:
        raise ConfigError(s.key("send_client_subnet"), N_("sending client subnets upstream is not supported (privacy)"))
    s.done()
    return dns
