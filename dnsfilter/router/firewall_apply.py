"""Loading the forced-DNS rules into the kernel with `nft -f`, and taking them out again.

Every change is one nft transaction: the ruleset is either fully replaced or left as it was.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from dnsfilter.config import Config
from dnsfilter.router.firewall import (
    Rules,
    parse_address_list,
    plan,
    render,
    render_remove,
    render_sets,
    unanswered,
)


class FirewallError(Exception):
    """One line saying what went wrong; the ruleset is unchanged."""


def nft(script: str, check: bool = False) -> None:
    """Run an nft script from stdin; `check` only parses and validates it (`nft -c`)."""
    exe = shutil.which("nft")
    if exe is None:
        raise FirewallError("nft is not installed (Debian: apt-get install nftables)")
    argv = [exe, *(["-c"] if check else []), "-f", "-"]
    try:
        out = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FirewallError(f"nft failed: {e}") from None
    if out.returncode != 0:
        lines = [ln for ln in out.stderr.splitlines() if "Error" in ln] or out.stderr.splitlines() or ["(no output)"]
        raise FirewallError(f"nft rejected the rules: {lines[0].strip()}")


def doh_list_path(cfg: Config) -> Path | None:
    if not cfg.firewall.doh_list:
        return None
    p = Path(cfg.firewall.doh_list)
    return p if p.is_absolute() else cfg.base_dir() / p


def doh_feed_path(cfg: Config) -> Path:
    """The last good copy of `[firewall] doh_feed` (written only after it parsed; doh_refresh.py)."""
    # in data_dir itself, not data_dir/feeds: written by whoever refreshes the sets (the daemon
    # when it may change nftables, else dnsfilter-firewall-refresh.service), never a folder of
    # its own that a root run could leave where the daemon must write
    return cfg.data_path() / "doh-resolvers.txt"


def load_rules(cfg: Config) -> Rules:
    """The config's rules with the DoH list file's addresses and the DoH feed's last good
    copy added (a feed not fetched yet adds nothing)."""
    path = doh_list_path(cfg)
    extra: list[str] = []
    if path is not None:
        try:
            extra = parse_address_list(path.read_text(encoding="utf-8"), str(path))
        except OSError as e:
            raise FirewallError(f"firewall.doh_list: cannot read {path}: {e.strerror}") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise FirewallError(f"firewall.doh_list: {e}") from None
    feed = doh_feed_path(cfg)
    if cfg.firewall.doh_feed and feed.exists():
        try:
            extra += parse_address_list(feed.read_text(encoding="utf-8"), str(feed))
        except (OSError, ValueError, UnicodeDecodeError) as e:  # only written once valid: damaged since
            raise FirewallError(f"firewall.doh_feed: the saved copy {feed} is unreadable: {e}") from None
    return plan(cfg, extra)


def loaded_variants() -> list[str]:
    """Which forced-DNS rule sets are in the kernel: `table` (inet dnsfilter, `firewall apply`)
    and/or `fw4` (OpenWrt's include inside inet fw4). Their DoH sets are what a refresh fills."""
    exe = shutil.which("nft")
    if exe is None:
        return []
    out = []
    for variant, table, name in (("table", "dnsfilter", "doh4"), ("fw4", "fw4", "dnsfilter_doh4")):
        r = subprocess.run([exe, "list", "set", "inet", table, name], capture_output=True, timeout=30)
        if r.returncode == 0:
            out.append(variant)
    return out


def interface_addresses(names: Iterable[str]) -> dict[str, list[str]] | None:
    """Each interface's addresses now (`ip -j addr`); an interface iproute2 cannot show (not
    there yet) is left out, and None when there is no iproute2: unknown, not empty."""
    exe = shutil.which("ip")
    if exe is None:
        return None
    out: dict[str, list[str]] = {}
    for name in names:
        try:
            r = subprocess.run([exe, "-j", "addr", "show", "dev", name], capture_output=True, text=True, timeout=10)
            if r.returncode == 0:
                links = json.loads(r.stdout)
                out[name] = [a["local"] for link in links for a in link.get("addr_info", []) if "local" in a]
        except (OSError, subprocess.TimeoutExpired, ValueError):
            return None
    return out


def apply(cfg: Config) -> Rules:
    """Load the rules; refused when LAN DNS they redirect would find nothing listening (the
    redirect goes to dnsfilter's port on the address of the interface a packet came in on)."""
    rules = load_rules(cfg)
    why = unanswered(cfg, interface_addresses(cfg.firewall.interfaces))
    if why:
        raise FirewallError(f"not loading the forced-DNS rules: {why}")
    nft(render(rules, "table"))
    return rules


def refresh_sets(cfg: Config, variant: str = "table") -> Rules:
    """Refill the DoH sets of the loaded table; connections and counters elsewhere stay."""
    rules = load_rules(cfg)
    try:
        nft(render_sets(rules, variant))
    except FirewallError as e:
        if "No such file or directory" in str(e):
            raise FirewallError("the dnsfilter table is not loaded: run `dnsfilter firewall apply` first") from None
        raise
    return rules


def remove() -> None:
    nft(render_remove())
