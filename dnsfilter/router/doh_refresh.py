"""The DoH resolver list as a feed: fetched on a schedule, its addresses put into the loaded
forced-DNS sets without reloading the table.

`[firewall] doh_feed` names a list (one address or network a line, `#` comments; an https URL
or a local path). Each round fetches it with feeds.sources.fetch, so an unchanged list costs a
conditional GET (ETag / Last-Modified, kept in `data_dir/feeds/doh-resolvers.json`). A new
download is parsed before anything uses it: only a list that parses and is not empty replaces
the last good copy (`doh-resolvers.txt`, renamed into place); a broken or empty one is
recorded and the sets keep what they had. The sets are then refilled from the config's
addresses, `doh_list` and the good copy, in one nft transaction per loaded rule set
(`firewall_apply.loaded_variants`: the `inet dnsfilter` table and/or OpenWrt's fw4 include).

Who runs it: the daemon, when it may change nftables (root: OpenWrt's procd, a root
container); `dnsfilter firewall refresh` otherwise (Debian: dnsfilter-firewall-refresh.timer,
since the hardened daemon has no CAP_NET_ADMIN). Both run the same `refresh_once`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dnsfilter.config import Config
from dnsfilter.router import firewall_apply as fa
from dnsfilter.router.firewall import parse_address_list, render
from feeds.sources import fetch

log = logging.getLogger("dnsfilter.doh_refresh")
RETRY_AFTER_FAILURE = 900.0  # a failed fetch is retried sooner than the interval, but not hammered


@dataclass
class FeedState:
    result: str = ""  # new | unchanged | failed | rejected (failed, rejected: the last good copy stays)
    entries: int = 0  # in the last good copy
    error: str = ""
    last_attempt: float = 0.0
    last_success: float = 0.0
    etag: str | None = None
    last_modified: str | None = None
    mtime: float | None = None
    size: int | None = None


def state_path(cfg: Config) -> Path:
    return fa.doh_feed_path(cfg).with_suffix(".json")


def read_state(cfg: Config) -> FeedState:
    try:
        raw = json.loads(state_path(cfg).read_text(encoding="utf-8"))
        return FeedState(**{k: v for k, v in raw.items() if k in FeedState.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return FeedState()


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sync_feed(cfg: Config, *, now: float | None = None, **fetch_opts: Any) -> FeedState:
    """Fetch `[firewall] doh_feed`; replace the good copy only with a list that parses."""
    url = cfg.firewall.doh_feed
    good = fa.doh_feed_path(cfg)
    good.parent.mkdir(parents=True, exist_ok=True)
    st = read_state(cfg)
    st.last_attempt = time.time() if now is None else now
    src = good.with_suffix(".src")
    if not (cfg.firewall.doh_feed.startswith(("http://", "https://", "file:")) or Path(url).is_absolute()):
        url = str(cfg.base_dir() / url)  # relative paths: the config's folder
    r = fetch(url, src, etag=st.etag, last_modified=st.last_modified, mtime=st.mtime, size=st.size,
              max_bytes=fetch_opts.pop("max_bytes", 4 << 20), **fetch_opts)
    if r.status == "failed":
        st.result, st.error = "failed", r.error
    elif r.status == "unchanged" and good.exists():
        st.result, st.error, st.last_success = "unchanged", "", st.last_attempt
    else:
        try:
            text = src.read_text(encoding="utf-8")
            entries = parse_address_list(text, "doh_feed")
            if not entries:
                raise ValueError("doh_feed: the list has no addresses")
        except (OSError, ValueError, UnicodeDecodeError) as e:
            st.result, st.error = "rejected", str(e)
            # forget the validators: the same broken file must be downloaded and judged again
            st.etag = st.last_modified = None
            st.mtime = st.size = None
        else:
            _write_atomic(good, text.encode())
            st.result, st.error, st.last_success, st.entries = "new", "", st.last_attempt, len(entries)
            st.etag, st.last_modified, st.mtime, st.size = r.etag, r.last_modified, r.mtime, r.size
    _write_atomic(state_path(cfg), json.dumps(asdict(st), indent=1).encode())
    return st


def refresh_once(cfg: Config, **fetch_opts: Any) -> tuple[FeedState | None, list[str]]:
    """Sync the feed (when configured) and refill the DoH sets of every loaded rule set.
    Returns the feed's state and the variants refilled. Raises FirewallError from nft."""
    st = sync_feed(cfg, **fetch_opts) if cfg.firewall.doh_feed else None
    variants = fa.loaded_variants()
    for variant in variants:
        rules = fa.refresh_sets(cfg, variant)
        if variant == "fw4":
            _rewrite_fw4_include(render(rules, "fw4"))
    return st, variants


def _rewrite_fw4_include(text: str) -> None:
    """OpenWrt: fw4 re-reads its include on every firewall reload (any change in LuCI), so the
    include must hold the refreshed addresses too, or a reload would bring back old ones. The
    init script names the file in DNSFILTER_FW4_INCLUDE; rewritten only when it differs."""
    name = os.environ.get("DNSFILTER_FW4_INCLUDE", "")
    path = Path(name) if name else None
    if path is None or not path.exists():  # force_dns off: the init script removed it
        return
    if path.read_text(encoding="utf-8") != text:
        _write_atomic(path, text.encode())


def may_change_nftables() -> bool:
    """CAP_NET_ADMIN in the effective set (bit 12 of CapEff): root, or a unit that grants it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> 12 & 1)
    except (OSError, ValueError):
        pass
    return os.geteuid() == 0


async def run(get_cfg: Callable[[], Config], stopping: asyncio.Event,
              in_thread: Callable[..., Any]) -> None:
    """The daemon's loop: a round at start, then every `doh_refresh` seconds (failures sooner).
    The config is read anew each round, so a reload's new interval or URL takes effect."""
    while not stopping.is_set():
        cfg = get_cfg()
        delay = float(cfg.firewall.doh_refresh)
        try:
            st, variants = await in_thread(refresh_once, cfg)
            if st is not None and st.result in ("failed", "rejected"):
                log.warning("DoH feed %s: %s; the sets keep the last good list", st.result, st.error)
                delay = min(delay, RETRY_AFTER_FAILURE)
            elif st is not None and st.result == "new":
                log.info("DoH feed: %d entries; refilled %s", st.entries, ", ".join(variants) or "no loaded rules")
        except fa.FirewallError as e:
            log.warning("DoH sets not refilled: %s", e)
            delay = min(delay, RETRY_AFTER_FAILURE)
        except Exception:  # a bug here must not stop the daemon
            log.exception("DoH feed refresh failed")
            delay = min(delay, RETRY_AFTER_FAILURE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)


class Refresher:
    """The daemon's `run` loop, kept in step with the config: started at start-up when
    `[firewall] doh_feed` is set, and on a reload that adds the feed or changes its URL or
    interval (restarted, so the new list is fetched at once, not after the old interval);
    stopped by a reload that removes it, after which the sets are refilled once without the
    feed's addresses. Only where this process may change nftables."""

    def __init__(self, get_cfg: Callable[[], Config], stopping: asyncio.Event,
                 in_thread: Callable[..., Any]) -> None:
        self.get_cfg = get_cfg
        self.stopping = stopping
        self.in_thread = in_thread
        self.task: asyncio.Task[None] | None = None

    def start(self, cfg: Config) -> None:
        if not cfg.firewall.doh_feed:
            return
        if not may_change_nftables():
            log.info("DoH feed: no CAP_NET_ADMIN here; `dnsfilter firewall refresh` (a timer) fetches it")
            return
        self.task = asyncio.get_running_loop().create_task(run(self.get_cfg, self.stopping, self.in_thread))

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()  # a round running in its thread finishes there; nothing awaits it
            self.task = None

    async def reconfigure(self, old: Config, new: Config) -> None:
        """After a reload swapped `old` for `new` (the loop reads `get_cfg()`, which is `new`)."""
        before = (old.firewall.doh_feed, old.firewall.doh_refresh)
        if before == (new.firewall.doh_feed, new.firewall.doh_refresh):
            return
        self.stop()
        if new.firewall.doh_feed:
            log.info("DoH feed %s: %s", "changed" if old.firewall.doh_feed else "added", new.firewall.doh_feed)
            self.start(new)
            return
        log.info("DoH feed removed: its addresses leave the DoH sets")
        if not may_change_nftables():
            return
        try:
            _st, variants = await self.in_thread(refresh_once, new)
            log.info("DoH sets refilled without the feed: %s", ", ".join(variants) or "no loaded rules")
        except fa.FirewallError as e:
            log.warning("DoH sets not refilled: %s", e)
