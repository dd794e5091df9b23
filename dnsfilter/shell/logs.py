"""Where the daemon's log goes (`configure`), and logging for events that a client can trigger at
will (malformed packets, rate limits): a few lines per kind per window, then one line saying
how many were left out."""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import sys
import time
from collections.abc import Callable

SYSLOG_SOCKET = "/dev/log"
# syslog severities (RFC 5424): what journald reads from a "<N>" prefix and logd from a datagram
_SEVERITY = ((logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def severity(levelno: int) -> int:
    return next((sev for lvl, sev in _SEVERITY if levelno >= lvl), 7)


class _JournalFormatter(logging.Formatter):
    """journald takes a leading "<N>" as the line's priority (SyslogLevelPrefix=, on by default)
    and names the unit itself, so `journalctl -p err -u dnsfilter` shows the errors."""

    def format(self, record: logging.LogRecord) -> str:
        return f"<{severity(record.levelno)}>{super().format(record)}"


def _under_journald() -> bool:
    """systemd sets JOURNAL_STREAM to the device:inode of the stream it connected to the journal."""
    want = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return bool(want) and want == f"{st.st_dev}:{st.st_ino}"


def configure(level: str, target: str = "stderr") -> None:
    """The daemon's log: to stderr as `dnsfilter: LEVEL: message`, or with journald's priority
    prefix when systemd connected stderr to the journal; with `syslog`, datagrams to /dev/log
    with their severity (OpenWrt: procd logs every stderr line of a service as daemon.err, so
    logread would call each info line an error). No syslog socket: stderr, said once."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    handler: logging.Handler
    problem = ""
    if target == "syslog":
        address = os.environ.get("DNSFILTER_SYSLOG_SOCKET", SYSLOG_SOCKET)
        try:  # SysLogHandler itself ignores a missing socket, then fails at every line
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
                probe.connect(address)
        except OSError as e:
            problem = f"no syslog socket at {address} ({e.strerror or e}): logging to stderr"
            target = "stderr"
        else:
            handler = logging.handlers.SysLogHandler(address, logging.handlers.SysLogHandler.LOG_DAEMON)
            handler.setFormatter(logging.Formatter("dnsfilter[%(process)d]: %(message)s"))
    if target != "syslog":
        handler = logging.StreamHandler()
        if _under_journald():
            handler.setFormatter(_JournalFormatter("%(message)s"))
        else:
            handler.setFormatter(logging.Formatter("dnsfilter: %(levelname)s: %(message)s"))
    root.addHandler(handler)
    if problem:
        logging.getLogger("dnsfilter").warning("%s", problem)

WARN_KINDS = frozenset({"upstream", "busy", "internal"})


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, per_window: int = 5, window: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.per_window = per_window
        self.window = window
        self.clock = clock
        self._state: dict[str, list[float]] = {}  # kind -> [window start, logged, suppressed]

    def __call__(self, kind: str, msg: str, level: int | None = None) -> None:
        now = self.clock()
        st = self._state.get(kind)
        if st is None or now - st[0] >= self.window:
            if st is not None and st[2]:
                self.logger.warning("%s: %d more messages suppressed", kind, int(st[2]))
            st = self._state[kind] = [now, 0, 0]
        if st[1] < self.per_window:
            st[1] += 1
            if level is None:
                level = logging.WARNING if kind in WARN_KINDS else logging.INFO
            self.logger.log(level, "%s: %s", kind, msg)
        else:
            st[2] += 1
