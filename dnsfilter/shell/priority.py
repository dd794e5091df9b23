"""Background work runs below the DNS path: the query log's writer thread and the feed-sync
child process each ask for a lower priority with this one call."""

from __future__ import annotations

import contextlib
import os

NICER = 10  # how many nice steps below the daemon background work runs


def lower_priority(pid: int = 0) -> None:
    """Put a thread (pid 0: the calling one; on Linux a thread has its own nice value) or a
    child process NICER steps below the daemon. On one core the scheduler otherwise shares the
    CPU between the UDP loop and the writer in slices of a few ms while the writer is in SQLite
    (which runs without the interpreter lock). Blocked queries at 78k/s, p99 over three
    interleaved runs each: 1.9-6.2 ms at the same priority, 1.0-1.5 ms ten steps nicer,
    1.4-3.2 ms with SCHED_IDLE (one-off runs; 0.8-0.9 ms with the log off). Not SCHED_IDLE: a
    thread of that class that is preempted while it holds the interpreter lock waits behind
    every other task on its CPU, and the loop waits for it (a 20 ms collection was seen).
    Lowering one's own priority needs no privilege; the systemd unit allows the call."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed: as it is
        os.setpriority(os.PRIO_PROCESS, pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICER))
