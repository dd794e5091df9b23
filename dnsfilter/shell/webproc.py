"""The web UI's process, started from `dnsfilter serve` when the config has a `[web]` section.

The UI runs in its own process (waitress, webui/server.py), so a slow page never delays DNS.
On a 128 MB router that process (an interpreter with Flask, Jinja and Babel, about 33 MB RSS)
would double dnsfilter's footprint while nobody looks at it. So the daemon holds the listening
socket and starts the UI on the first connection, handing the socket over (the connection
waits in the backlog meanwhile, about a second); the UI ends itself after `idle_exit` seconds
without requests, and the next connection starts it again.

The daemon imports this module only: never the `webui` package, whose import pulls Flask in.
The UI listens on loopback or a LAN (private/link-local) address only, unless
`--web-any-address` is given: an admin page on a public address invites password guessing.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import select
import socket
import subprocess
import sys
import threading

from dnsfilter.config import Config
from dnsfilter.config.values import parse_listen

log = logging.getLogger("dnsfilter.webui")
# Seconds without requests before the UI process ends; 0 keeps it running once started.
IDLE_EXIT = float(os.environ.get("DNSFILTER_WEB_IDLE_EXIT", "600"))
# glibc malloc tuning for the UI process (measured with scripts/bench_footprint.py):
# - a fixed mmap threshold: by default glibc raises it after the first large free, so the 16 MB
#   buffer of each login's scrypt then comes from the heap and stays there (UI RSS 55-71 MB
#   after a few logins, 39 MB with this);
# - two arenas instead of 8 per core for the waitress threads (-0.7 MB).
UI_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "2"}


def listen_problem(host: str, allow_any: bool = False) -> str | None:
    """Why the UI must not listen on `host` (None: fine)."""
    ip = ipaddress.ip_address(host)
    if allow_any:
        return None
    if ip.is_unspecified:
        return f"{host} listens on every address, public ones too; name a LAN address"
    if not (ip.is_loopback or ip.is_private or ip.is_link_local):
        return f"{host} is not a loopback or LAN address"
    return None


class WebUI:
    """The listening socket (held by the daemon) and the UI process started on demand. A thread
    waits for a connection, starts the UI, waits for it to end, and waits again."""

    def __init__(self, config_path: str, sock: socket.socket, idle_exit: float = IDLE_EXIT) -> None:
        self.config_path = config_path
        self.sock = sock
        self.idle_exit = idle_exit
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="webui", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def command(self) -> list[str]:
        return [sys.executable, "-m", "webui.server", "-c", self.config_path, "--fd", str(self.sock.fileno()),
                "--idle-exit", f"{self.idle_exit:g}"]

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock.fileno(), self._wake_r], [], [])
            if self._stop.is_set():
                return
            if self.sock.fileno() not in ready:
                continue
            try:
                self.proc = subprocess.Popen(self.command(), pass_fds=(self.sock.fileno(),),
                                             env=os.environ | UI_ENV)
            except OSError as e:  # keep serving DNS; try again on the next connection
                log.error("web UI: cannot start: %s", e)
                self._stop.wait(5.0)
                continue
            self.starts += 1
            code = self.proc.wait()
            if code and not self._stop.is_set():
                log.warning("web UI process ended with status %s; restarting at the next connection", code)
                self._stop.wait(10.0)  # a UI that fails at start must not spin on a waiting connection

    # the subprocess.Popen interface `dnsfilter serve` stops the UI with
    def terminate(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def wait(self, timeout: float | None = None) -> None:
        proc = self.proc
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._thread.join(timeout)
        self.sock.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)


def start(cfg: Config, allow_any: bool = False) -> WebUI | None:
    """Listen for the UI of this config; None (and a logged reason) when it must not run."""
    if cfg.web is None:
        return None
    where = parse_listen(cfg.web.listen, "web.listen", 8080)
    problem = listen_problem(where.host, allow_any)
    if problem:
        log.error("web UI not started: web.listen: %s (or pass --web-any-address)", problem)
        return None
    fam = socket.AF_INET6 if ":" in where.host else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((where.host, where.port))
        sock.listen(64)
    except OSError as e:
        sock.close()
        log.error("web UI not started: cannot listen on %s: %s", where, e)
        return None
    ui = WebUI(cfg.path, sock)
    ui.start()
    log.info("web UI on %s (its process starts at the first connection)", url(cfg))
    from dnsfilter.storage import setup_code

    try:
        code = setup_code.ensure(cfg.state_path())
    except OSError as e:
        log.error("web UI: cannot make the setup code in %s: %s", cfg.state_path(), e)
    else:
        if code is not None:  # until the admin password is set, setup asks for it
            log.warning("web UI not set up yet: open %ssetup and enter the setup code %s", url(cfg),
                        setup_code.shown(code))
    return ui


def url(cfg: Config) -> str:
    """The UI's address as a browser is given it ("" without [web])."""
    if cfg.web is None:
        return ""
    where = parse_listen(cfg.web.listen, "web.listen", 8080)
    host = f"[{where.host}]" if ":" in where.host else where.host
    return f"http://{host}:{where.port}/"
