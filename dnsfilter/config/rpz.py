"""The `[rpz]` section: how `dnsfilter rpz export` / `rpz publish` write Response Policy Zones
for other resolvers (docs/rpz.md)."""

from __future__ import annotations

from dataclasses import dataclass

from dnsfilter.config.feeds import Tsig, XfrSource, _tsig, xfr_source
from dnsfilter.config.values import N_, ConfigError, Section

PUBLISH_MODES = ("reload", "update")


@dataclass(frozen=True, slots=True)
class Rpz:
    out_dir: str = ""  # where `rpz publish` writes the zone files (relative to the config's folder)
    reload_command: str = ""  # run after a publish that changed a zone, e.g. "knotc zone-reload {zones}"
    # "reload": write the files, then run reload_command; "update": send each changed zone's
    # differences to update_server as DNS UPDATE (RFC 2136), then write the file
    publish: str = "reload"
    update_server: XfrSource | None = None  # where the UPDATEs go (its zone field is unused)
    update_key: Tsig | None = None  # the TSIG key the UPDATEs are signed with
    suffix: str = "rpz.dnsfilter"  # zones are CATEGORY.SUFFIX, FEED.authority.SUFFIX, …
    profile_zones: bool = False  # also one combined zone per profile: PROFILE.profile.SUFFIX
    ttl: int = 60  # of every policy record: how long a resolver may keep a rewritten answer
    refresh: int = 600  # SOA timers, for the resolvers that follow the zones by transfer
    retry: int = 60
    expire: int = 1209600  # long: a secondary past expire stops applying the zone at all
    minimum: int = 60


def parse_rpz(s: Section) -> Rpz:
    base = Rpz()
    suffix = s.get("suffix", str, base.suffix).strip().rstrip(".").lower()
    if (not suffix or len(suffix) > 200 or not suffix.isascii()
            or any(not 0 < len(lab) < 64 or not all(c.isalnum() or c in "-_" for c in lab)
                   for lab in suffix.split("."))):
        raise ConfigError(s.key("suffix"), N_("must be a DNS name (labels of letters, digits, '-' and '_')"))
    publish = s.get("publish", str, base.publish)
    if publish not in PUBLISH_MODES:
        raise ConfigError(s.key("publish"), N_("must be one of %(modes)s"), modes=", ".join(PUBLISH_MODES))
    server = None
    if where := s.get("update_server", str, "").strip():
        try:
            server = xfr_source(f"xfr://{where}/update")
        except ValueError:
            raise ConfigError(s.key("update_server"), N_("%(value)r is not an IP address"), value=where) from None
    if publish == "update" and server is None:
        raise ConfigError(s.key("update_server"), N_("needs at least one address"))  # publish = "update"
    rpz = Rpz(
        out_dir=s.get("out_dir", str, base.out_dir),
        reload_command=s.get("reload_command", str, base.reload_command),
        publish=publish,
        update_server=server,
        update_key=_tsig(s, "update_key") if "update_key" in s.data else None,
        suffix=suffix,
        profile_zones=s.get("profile_zones", bool, base.profile_zones),
        ttl=s.int_in("ttl", base.ttl, 0, 86400),
        refresh=s.int_in("refresh", base.refresh, 1, 86400 * 7),
        retry=s.int_in("retry", base.retry, 1, 86400),
        expire=s.int_in("expire", base.expire, 60, 86400 * 365),
        minimum=s.int_in("minimum", base.minimum, 0, 86400),
    )
    if rpz.reload_command:
        import shlex

        try:
            if not shlex.split(rpz.reload_command):
                raise ValueError
        except ValueError:
            raise ConfigError(s.key("reload_command"), N_("not a command line (check its quotes)")) from None
    s.done()
    return rpz
