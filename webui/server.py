"""The web UI process: the Flask app under waitress, on the socket `dnsfilter serve` hands over.

The daemon holds the listening socket and starts this process at the first connection
(dnsfilter/shell/webproc.py, which also holds the listen-address rules); this process ends
itself after `--idle-exit` seconds without requests, so a router spends no memory on the UI
while nobody looks at it. `--host/--port` run it standalone (development).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from dnsfilter.shell.webproc import listen_problem, start  # noqa: F401 (the names tests and callers use)

log = logging.getLogger("dnsfilter.webui")


def malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), which hands the free pages inside the C heap back to the
    kernel (None elsewhere: musl, OpenWrt's C library, has none and gives freed memory back on
    its own). A UI start that compiles the templates leaves 1.4-1.8 MB of such holes behind
    (scripts/bench_footprint.py's pages; docs/deploy.md, "Footprint")."""
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim
    except (ImportError, OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


class IdleExit:
    """WSGI middleware that ends the process after `idle` seconds with no request running or
    started (`watch`). The UI keeps no state in memory (sessions are signed cookies; edits are
    written before the answer), so ending it loses nothing. When the last running request is
    answered, the C heap's free pages go back to the kernel (`malloc_trim`)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], idle: float) -> None:
        self.app = app
        self.idle = idle
        self.last = time.monotonic()
        self.running = 0
        self.lock = threading.Lock()
        self.trim = malloc_trim()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self.lock:
            self.running += 1
        try:
            # the body is built here: Flask's responses are lists, and this UI streams nothing
            return list(self.app(environ, start_response))
        finally:
            with self.lock:
                self.running -= 1
                self.last = time.monotonic()
                if not self.running and self.trim is not None:
                    self.trim()  # under the lock: no request allocates meanwhile (well under 1 ms)

    def watch(self) -> None:
        while True:
            time.sleep(min(10.0, self.idle / 4))
            with self.lock:
                if not self.running and time.monotonic() - self.last >= self.idle:
                    log.info("no requests for %gs: the UI process ends (the next connection starts it)", self.idle)
                    logging.shutdown()
                    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="dnsfilter-webui")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--fd", type=int, help="a listening socket to serve (from dnsfilter serve)")
    p.add_argument("--idle-exit", type=float, default=0.0, help="end after this many idle seconds (0: never)")
    args = p.parse_args(argv)
    import waitress

    from webui import create_app

    logging.basicConfig(level="INFO", format="dnsfilter-webui: %(levelname)s: %(message)s")
    app = IdleExit(create_app(args.config), args.idle_exit)
    if args.idle_exit > 0:
        threading.Thread(target=app.watch, name="idle-exit", daemon=True).start()
    # Few threads: pages are light. (2 threads instead of 4, and gc.freeze(), were measured
    # and saved nothing: 40.4-40.5 MB RSS either way.)
    where: dict[str, Any] = {"host": args.host, "port": args.port}
    if args.fd is not None:
        where = {"sockets": [socket.socket(fileno=args.fd)]}
    waitress.serve(app, threads=4, ident="dnsfilter", **where)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
