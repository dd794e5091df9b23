"""The loopback relay of a zone transfer (feeds/xfr.py): it reads the primary as fast as it
sends, so a slow parser never stalls the primary's side, and counts the bytes on the wire."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import socket

TIMEOUT = 30.0  # seconds to connect to the primary


class Relay:
    """A loopback relay between dnspython and the primary that reads the primary as fast as
    it sends. dnspython parses a message before it reads the next (about 0.1 ms a record), and
    a primary does not wait for a slow reader: Knot DNS closes a transfer whose socket stays
    full for `tcp-io-timeout` (500 ms by default), which a 100k-record zone reaches within
    seconds. So a thread drains the primary into memory (at most `cap` bytes: past it the
    transfer fails) and hands it on at dnspython's pace. It also counts the bytes received."""

    def __init__(self, host: str, port: int, cap: int, timeout: float) -> None:
        self.target, self.cap, self.timeout = (host, port), cap, timeout
        self.host, self.port = "127.0.0.1", 0
        self.received = 0
        self.error: BaseException | None = None

    def __enter__(self) -> Relay:
        import socket
        import threading

        self._listen = socket.create_server(("127.0.0.1", 0))
        self.port = self._listen.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name="xfr-relay", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listen.close()
        self._thread.join(self.timeout)
        if self.error is not None:  # the primary could not be reached: that, not dnspython's EOF
            raise self.error

    def _run(self) -> None:
        import socket

        self._listen.settimeout(self.timeout)
        try:
            local, _ = self._listen.accept()
        except OSError as e:
            self.error = e
            return
        try:
            remote = socket.create_connection(self.target, timeout=min(self.timeout, TIMEOUT))
        except OSError as e:
            self.error = e
            local.close()
            return
        with local, remote:
            try:
                self._pump(local, remote)
            except OSError:  # either side reset (dnspython gave up on the transfer): it is over
                pass

    def _pump(self, local: socket.socket, remote: socket.socket) -> None:
        import selectors
        import socket
        from collections import deque

        buf: deque[bytes] = deque()
        held = 0
        with selectors.DefaultSelector() as sel:
            local.setblocking(False)
            remote.setblocking(False)
            sel.register(remote, selectors.EVENT_READ)
            sel.register(local, selectors.EVENT_READ)
            deadline = time.monotonic() + self.timeout
            eof = False
            while time.monotonic() < deadline:
                for key, mask in sel.select(1.0):
                    s = key.fileobj
                    if s is remote and mask & selectors.EVENT_READ:
                        data = remote.recv(1 << 16)
                        if not data:
                            eof = True
                            sel.unregister(remote)
                        else:
                            self.received += len(data)
                            held += len(data)
                            buf.append(data)
                            if held > self.cap:
                                return  # dnspython sees the connection end: a truncated transfer
                    elif s is local and mask & selectors.EVENT_READ:
                        data = local.recv(1 << 16)
                        if not data:
                            return  # dnspython is done (or gave up)
                        remote.sendall(data)
                    if s is local and mask & selectors.EVENT_WRITE and buf:
                        n = local.send(buf[0])
                        held -= n
                        if n == len(buf[0]):
                            buf.popleft()
                        else:
                            buf[0] = buf[0][n:]
                want = selectors.EVENT_READ | (selectors.EVENT_WRITE if buf else 0)
                sel.modify(local, want)
                if eof and not buf:
                    local.shutdown(socket.SHUT_WR)
                    eof = False  # wait for dnspython to close its end
        return
