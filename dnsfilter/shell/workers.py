"""Several worker processes sharing the listen ports through SO_REUSEPORT.

The parent compiles the lists once, then forks the workers; each maps the same compiled
files (shared pages), keeps its own cache and answers the packets the kernel hashes to it.
The parent only supervises: it forwards SIGHUP and SIGTERM, and restarts a worker that dies
(at most a few times a minute, so a crash loop does not spin).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

from dnsfilter.config import Config
from dnsfilter.shell.daemon import Daemon
from dnsfilter.shell.lists import load_matcher

log = logging.getLogger("dnsfilter")
MAX_RESTARTS_PER_MINUTE = 5


def _run_worker(cfg: Config, index: int) -> int:
    return asyncio.run(Daemon(cfg, reuseport=True, worker=index).run())


def _spawn(cfg: Config, index: int) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = _run_worker(cfg, index)
        except BaseException:
            log.exception("worker %d failed", index)
        finally:
            os._exit(code)
    return pid


def supervise(cfg: Config, n: int) -> int:
    load_matcher(cfg)  # compile once, before forking, so workers only map the files
    stopping = False
    pids: dict[int, int] = {}  # pid -> worker index

    def forward(sig: int, _frame: object) -> None:
        nonlocal stopping
        if sig != signal.SIGHUP:
            stopping = True
        for pid in list(pids):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    for i in range(n):
        pids[_spawn(cfg, i)] = i
    log.info("started %d workers", n)
    restarts: list[float] = []
    code = 0
    while pids:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        index = pids.pop(pid, None)
        if index is None:
            continue
        rc = os.waitstatus_to_exitcode(status)
        if stopping:
            code = code or (rc if rc > 0 else 0)
            continue
        now = time.monotonic()
        restarts = [t for t in restarts if now - t < 60] + [now]
        if len(restarts) > MAX_RESTARTS_PER_MINUTE:
            log.error("worker %d exited (%d) too often; stopping", index, rc)
            forward(signal.SIGTERM, None)
            code = 1
            continue
        log.warning("worker %d exited (%d); restarting it", index, rc)
        pids[_spawn(cfg, index)] = index
    return code
