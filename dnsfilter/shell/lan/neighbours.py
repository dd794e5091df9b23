"""The kernel neighbour table (IPv4 ARP, IPv6 NDP) as an address → MAC snapshot.

The query path only reads a dict. A daemon thread owns the netlink sockets: it dumps the
table at start, follows RTM_NEWNEIGH events (RTMGRP_NEIGH), and dumps again when asked after a
miss, at most once per `min_dump_interval`. It runs its own small event loop so that dumps
and their parsing (shell/lan/netlink.py) never hold up the DNS loop; netlink sockets belong to the network
namespace they are opened in, which is the daemon's own.

Entries the kernel forgets are kept for `retention` seconds: the kernel drops idle entries
after a minute or so and only relearns a device's MAC when we answer it, so dropping ours at
once would misidentify the first query of every idle device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable

from dnsfilter.core.household.macaddr import is_multicast
from dnsfilter.shell.lan.netlink import NDA_DST, NDA_LLADDR, RTM_GETNEIGH, RTMGRP_NEIGH, Message, RtNetlink

log = logging.getLogger("dnsfilter.neighbours")

# Neighbour states (linux/neighbour.h). INCOMPLETE and FAILED have no usable address; NOARP
# entries (loopback, multicast) have computed ones.
NUD_INCOMPLETE, NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE = 0x01, 0x02, 0x04, 0x08, 0x10
NUD_FAILED, NUD_NOARP, NUD_PERMANENT = 0x20, 0x40, 0x80
USABLE = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT
AF_INET, AF_INET6 = 2, 10
ZERO_MAC = "00:00:00:00:00:00"


def usable_entry(event: str, family: int, state: int, ip: str | None, mac: str | None) -> tuple[str, str] | None:
    """(ip, mac) of a neighbour message worth recording, else None."""
    if event != "RTM_NEWNEIGH" or family not in (AF_INET, AF_INET6) or not ip or not mac:
        return None
    if not state & USABLE or state & (NUD_NOARP | NUD_FAILED | NUD_INCOMPLETE):
        return None
    mac = mac.lower()
    if len(mac) != 17 or mac == ZERO_MAC or is_multicast(mac):
        return None
    return ip, mac


def _entry(msg: Message) -> tuple[str, str] | None:
    return usable_entry(msg.event, msg.family, msg.state, msg.ip(NDA_DST), msg.mac(NDA_LLADDR))


def _plain(ip: str) -> str:
    """The spelling the kernel uses: no IPv6 zone, IPv4-mapped IPv6 as IPv4."""
    ip = ip.split("%", 1)[0]
    return ip[7:] if ip.startswith("::ffff:") and "." in ip else ip


class NeighbourTable:
    def __init__(self, min_dump_interval: float = 1.0, retention: float = 3600.0,
                 start_timeout: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_dump_interval = min_dump_interval
        self.retention = retention
        self.start_timeout = start_timeout
        self.clock = clock
        self.version = 0  # bumped whenever the mapping changes: callers drop their caches
        self.dumps = 0
        self.errors = 0
        self.last_error: str | None = None
        self._by_ip: dict[str, str] = {}  # read by the query path, written by the thread only
        self._confirmed: dict[str, float] = {}  # ip -> when the kernel last had it
        self._last_request = -1e9
        self._last_dump = 0.0
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None  # a dump is wanted
        self._stop_event: asyncio.Event | None = None
        self._stopping = False
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    # ------------------------------------------------------------ query path

    def mac_of(self, ip: str) -> str | None:
        """The MAC of a client address, or None. A dict read; a miss asks for a dump (rate
        limited, and never for loopback)."""
        mac = self._by_ip.get(ip)
        if mac is None:
            plain = _plain(ip)
            mac = self._by_ip.get(plain) if plain != ip else None
            if mac is None and not plain.startswith("127.") and plain != "::1":
                now = self.clock()
                if now - self._last_request >= self.min_dump_interval:
                    self._last_request = now
                    self.request_refresh()
        return mac

    def snapshot(self) -> dict[str, str]:
        return dict(self._by_ip)

    def request_refresh(self) -> None:
        """Ask the netlink thread for a fresh dump (it keeps to min_dump_interval)."""
        loop, wake = self._thread_loop, self._wake
        if loop is not None and wake is not None and not self._stopping:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)

    # ------------------------------------------------------------ lifecycle

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the netlink thread and wait for the first dump. Raises OSError when netlink
        is unavailable. `loop` (the caller's) is not used: netlink work has its own loop."""
        del loop
        self._thread = threading.Thread(target=self._thread_main, name="neighbours", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.start_timeout):
            self.stop()
            raise OSError(f"neighbour table: no answer from netlink within {self.start_timeout:g}s")
        if self._start_error is not None:
            self.stop()
            raise OSError(f"neighbour table: {self._start_error}") from self._start_error

    def stop(self) -> None:
        self._stopping = True
        loop, wake, stop_event = self._thread_loop, self._wake, self._stop_event
        if loop is not None and wake is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)
                loop.call_soon_threadsafe(stop_event.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._thread = None

    # ------------------------------------------------------------ netlink thread

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # never die silently: start() may be waiting
            self._start_error = self._start_error or e
            log.exception("neighbour table thread stopped")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        self._stop_event = asyncio.Event()
        events = dumper = None
        reader: asyncio.Task[None] | None = None
        try:
            try:
                # subscribe before the first dump, so nothing falls between the two
                events = RtNetlink()
                events.bind(RTMGRP_NEIGH)
                dumper = RtNetlink()
                await self._dump(dumper)
            except Exception as e:
                self._start_error = e
                return
            self._thread_loop = asyncio.get_running_loop()
            self._ready.set()
            reader = asyncio.create_task(self._follow(events))
            while not self._stopping:
                await self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    break
                wait = self.dumps_due_in()
                if wait > 0:  # rate limit, but let stop() interrupt the wait
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop_event.wait(), wait)
                    if self._stopping:
                        break
                try:
                    await self._dump(dumper)
                except Exception as e:  # keep the last good table
                    self._failed("dump", e)
        finally:
            self._thread_loop = None
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
            for sock in (events, dumper):
                if sock is not None:
                    with contextlib.suppress(Exception):
                        sock.close()

    def dumps_due_in(self) -> float:
        """Seconds until the next dump may run (dumps are rate limited)."""
        return self._last_dump + self.min_dump_interval - self.clock() if self.dumps else 0.0

    async def _dump(self, nl: RtNetlink) -> None:
        self._last_dump = self.clock()
        seen: dict[str, str] = {}
        for msg in await nl.dump(RTM_GETNEIGH):
            entry = _entry(msg)
            if entry is not None:
                seen[entry[0]] = entry[1]
        self.dumps += 1
        self._replace(seen)

    async def _follow(self, events: RtNetlink) -> None:
        while not self._stopping:
            try:
                async for msg in events.events():
                    entry = _entry(msg)
                    if entry is not None:
                        self._set(*entry)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # e.g. ENOBUFS after an event burst: events were lost, resync
                self._failed("events", e)
                if self._wake is not None:
                    self._wake.set()
                await asyncio.sleep(self.min_dump_interval)

    def _failed(self, what: str, e: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{what}: {e}"
        log.warning("neighbour table %s failed (keeping the last table): %s", what, e)

    # ------------------------------------------------------------ the mapping (thread only)

    def _set(self, ip: str, mac: str) -> None:
        self._confirmed[ip] = self.clock()
        if self._by_ip.get(ip) != mac:
            self._by_ip[ip] = mac
            self.version += 1

    def _replace(self, current: dict[str, str]) -> None:
        """Apply a full dump: add and update what the kernel has, forget what it has not had
        for `retention` seconds."""
        now = self.clock()
        changed = False
        for ip, mac in current.items():
            self._confirmed[ip] = now
            if self._by_ip.get(ip) != mac:
                self._by_ip[ip] = mac
                changed = True
        for ip in [ip for ip in self._by_ip if ip not in current and now - self._confirmed.get(ip, now) > self.retention]:
            del self._by_ip[ip]
            self._confirmed.pop(ip, None)
            changed = True
        if changed:
            self.version += 1
