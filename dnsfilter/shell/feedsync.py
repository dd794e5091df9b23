"""A feed's periodic sync in a child process (`dnsfilter feeds sync --feed NAME`).

Why not a thread of the daemon: a download imports requests (4.5 MB of heap the daemon would
keep for good), and compiling a large list grows the heap by a few MB that Python does not
give back; a child returns all of it when it exits, which a 128 MB router needs. A hostile or
broken feed can at worst kill the child, never the resolver, and the child runs ten nice steps
below the daemon so a compile on a router's one core never delays DNS. The child records the
feed's status on disk (feeds/sync.py); the daemon reads it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time

from dnsfilter.config import Config, Feed
from dnsfilter.shell.priority import lower_priority
from feeds.files import FeedStatus, file_error, log_result, read_status, status_path, write_status

log = logging.getLogger("dnsfilter.feeds")

DEADLINE = 1800.0  # seconds a child may take (downloads have their own, shorter deadlines)
OUTPUT_TAIL = 400  # characters of a failed child's output quoted in the log


def command(cfg: Config, feed: Feed) -> list[str]:
    return [sys.executable, "-m", "dnsfilter", "feeds", "sync", "-c", cfg.path, "--feed", feed.name]


async def run_child(argv: list[str], label: str, deadline: float | None = None) -> tuple[int | None, str, str]:
    """Run `argv` ten nice steps below the daemon, killed past `deadline` (DEADLINE) or when the
    daemon stops: (exit code or None, why it ended in words, its output)."""
    deadline = DEADLINE if deadline is None else deadline
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    lower_priority(proc.pid)
    log.debug("%s: sync in process %d", label, proc.pid)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), deadline)
        why = f"the sync process ended with code {proc.returncode}"
    except TimeoutError:
        out, why = b"", f"the sync process took longer than {deadline:g}s and was stopped"
    finally:
        if proc.returncode is None:  # a deadline, or the daemon stopping (cancelled): no orphan
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    return proc.returncode, why, out.decode(errors="replace")


async def sync_in_child(cfg: Config, feed: Feed) -> FeedStatus:
    """Sync one feed in a child process; the status it recorded. A child that ends without
    recording one (killed, out of memory, past DEADLINE) is recorded here as failed, so the feed
    is retried after the usual back-off and the UI says why; the last good set stays in force."""
    before = _stamp(cfg, feed)
    _code, why, out = await run_child(command(cfg, feed), f"feed {feed.name}")
    st = read_status(cfg, feed)
    if _stamp(cfg, feed) != before:  # the child recorded this attempt (a new file: written, then renamed)
        log_result(st)
        return st
    tail = out.strip()[-OUTPUT_TAIL:]
    log.warning("feed %s: %s before recording a result%s", feed.name, why, f": {tail}" if tail else "")
    st.result, st.error, st.last_attempt = "failed", why, time.time()
    try:
        write_status(cfg, st)
    except OSError as e:  # e.g. a status file another user left: the feed is retried all the same
        log.warning("feed %s: cannot record the failure: %s", feed.name, file_error(e))
    return st


def _stamp(cfg: Config, feed: Feed) -> tuple[int, int] | None:
    """Which status file is on disk: the child writes a new one and renames it into place. Not
    the recorded time: a router without a clock may see the time jump at boot."""
    try:
        st = status_path(cfg, feed).stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns
