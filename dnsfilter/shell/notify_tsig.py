"""TSIG for the NOTIFY messages of signed xfr:// feeds: the check and the signed answer.

dnspython does both (RFC 8945's MAC over the message, the time check, the answer signed with
the request's MAC); its message and TSIG modules are imported the first time a signed NOTIFY
arrives, not before: about 1.8 MB of the daemon's RSS, paid only where a feed has a key and
its primary has sent a NOTIFY (docs/rpz.md, "Memory"). The secrets are read from their files
when the config is (re)loaded and kept in memory only, never logged.
"""

from __future__ import annotations

import logging
from typing import Any

from dnsfilter.config import Config
from dnsfilter.core.dns.notify import NotifyZone

log = logging.getLogger("dnsfilter.notify")


class TsigVerifier:
    """A `core.dns.notify.Verifier` over the keys of the config's signed xfr feeds."""

    def __init__(self, keys: dict[str, tuple[str, bytes]]) -> None:
        self.keys = keys  # key name -> (algorithm, secret)

    @classmethod
    def from_config(cls, cfg: Config) -> TsigVerifier | None:
        keys: dict[str, tuple[str, bytes]] = {}
        for f in cfg.feeds:
            if f.enabled and f.tsig is not None and f.xfr is not None:
                try:
                    keys[f.tsig.name] = (f.tsig.algorithm, cfg.tsig_secret(f))
                except ValueError as e:  # its NOTIFY messages are refused; the sync child says why too
                    log.warning("feed %s: %s: its NOTIFY messages will be refused", f.name, e)
        return cls(keys) if keys else None

    def __call__(self, data: bytes, zone: NotifyZone) -> bytes | None:
        if zone.key is None or zone.key not in self.keys:
            return None
        import dns.exception
        import dns.flags
        import dns.message
        import dns.name
        import dns.tsig

        algorithm, secret = self.keys[zone.key]
        key = dns.tsig.Key(zone.key, secret, algorithm)
        keyring: Any = {dns.name.from_text(zone.key): key}
        try:
            msg = dns.message.from_wire(data, keyring=keyring)
        except (dns.exception.DNSException, ValueError):  # bad MAC, time, key or message: refused
            return None
        if not msg.had_tsig or msg.keyname != key.name:
            return None
        answer = dns.message.make_response(msg)  # signed with the key, over the request's MAC
        answer.flags |= dns.flags.AA
        return answer.to_wire()
