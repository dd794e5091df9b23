"""DHCP lease files watched for hostnames: re-read when their mtime, size or inode change,
polled every few seconds off the query path. A file that goes missing, cannot be read or
reads as garbage leaves its last good leases in force."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dnsfilter.core.household.lease import Lease
from dnsfilter.core.household.leases import EMPTY_INDEX, LeaseIndex, parse_leases

log = logging.getLogger("dnsfilter.leases")

MAX_FILE_BYTES = 16 * 1024 * 1024  # a lease file this big is not one
REINDEX_EVERY = 60.0  # leases expire while files stay unchanged: re-filter now and then


@dataclass
class LeaseFileState:
    path: Path
    fmt: str = "auto"
    stamp: tuple[int, int, int] | None = None  # (mtime_ns, size, inode) of the last read
    leases: tuple[Lease, ...] = ()  # the last good parse
    detected: str | None = None
    skipped: int = 0
    error: str | None = None  # why the last read was not used, if it was not
    reads: int = 0
    problems: tuple[str, ...] = field(default_factory=tuple)


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_mtime_ns, st.st_size, st.st_ino


class LeaseWatch:
    def __init__(self, paths: Sequence[str | os.PathLike[str]], fmt: str = "auto", interval: float = 3.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.files = [LeaseFileState(Path(p), fmt) for p in paths]
        self.interval = interval
        self.clock = clock
        self.index: LeaseIndex = EMPTY_INDEX  # replaced whole, so readers in other threads see one or the other
        self._last_poll = -1e18
        self._last_index = -1e18
        self.poll(force=True)

    # ------------------------------------------------------------ lookups (a dict read each)

    def hostname_of(self, mac: str | None = None, ip: str | None = None) -> str | None:
        return self.index.hostname_of(mac=mac, ip=ip)

    def macs_of_ip(self, ip: str) -> tuple[str, ...]:
        return self.index.macs_of_ip(ip)

    # ------------------------------------------------------------ polling

    def poll(self, force: bool = False) -> bool:
        """Re-read the files that changed (at most every `interval` seconds unless forced);
        returns True when the index was rebuilt."""
        now = self.clock()
        if not force and now - self._last_poll < self.interval:
            return False
        self._last_poll = now
        changed = False
        for f in self.files:
            changed |= self._check(f)
        if changed or now - self._last_index >= REINDEX_EVERY:
            self.index = LeaseIndex.build((lease for f in self.files for lease in f.leases), now=now)
            self._last_index = now
            return True
        return False

    def _check(self, f: LeaseFileState) -> bool:
        """Read one file if it changed; True when its leases changed."""
        try:
            before = os.stat(f.path)
        except FileNotFoundError:
            return self._fail(f, None, "file not found (keeping its last leases)", level=logging.INFO)
        except OSError as e:
            return self._fail(f, None, f"cannot stat: {e.strerror or e}")
        stamp = _stamp(before)
        if stamp == f.stamp:
            return False
        if before.st_size > MAX_FILE_BYTES:
            return self._fail(f, stamp, f"{before.st_size} bytes, more than the {MAX_FILE_BYTES} a lease file may have")
        try:
            with open(f.path, "rb") as fh:
                raw = fh.read(MAX_FILE_BYTES + 1)
                after = os.fstat(fh.fileno())
        except OSError as e:
            return self._fail(f, None, f"cannot read: {e.strerror or e}")
        if _stamp(after) != stamp:
            return False  # written to while we read (dnsmasq rewrites in place): next poll
        text = raw.decode("utf-8", errors="replace")
        try:
            parsed = parse_leases(text, f.fmt)
        except ValueError as e:  # an unknown format name: a configuration error
            return self._fail(f, stamp, str(e))
        if not parsed.leases and parsed.skipped:
            why = "; ".join(parsed.problems[:2])
            return self._fail(f, stamp, f"no readable lease in {parsed.skipped} lines ({why}); keeping the last ones")
        if parsed.skipped:
            log.warning("%s: %d unreadable lines skipped (%s)", f.path, parsed.skipped, "; ".join(parsed.problems))
        if f.error is not None:
            log.info("%s: readable again, %d leases", f.path, len(parsed.leases))
        f.stamp, f.error, f.reads = stamp, None, f.reads + 1
        f.detected, f.skipped, f.problems = parsed.fmt, parsed.skipped, parsed.problems
        if parsed.leases == f.leases:
            return False
        f.leases = parsed.leases
        return True

    def _fail(self, f: LeaseFileState, stamp: tuple[int, int, int] | None, why: str,
              level: int = logging.WARNING) -> bool:
        """Note why a read was not used; logged once per distinct reason, the last good
        leases stay. `stamp` (when given) stops re-reading the same bad version."""
        if why != f.error:
            log.log(level, "%s: %s", f.path, why)
        f.error = why
        if stamp is not None:
            f.stamp = stamp
        return False

    def status(self) -> list[dict[str, object]]:
        """Per file: format, leases in force, lines skipped, the current problem (for the UI)."""
        return [{"path": str(f.path), "format": f.detected, "leases": len(f.leases), "skipped": f.skipped,
                 "error": f.error, "problems": list(f.problems)} for f in self.files]
