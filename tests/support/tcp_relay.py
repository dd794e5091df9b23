"""A TCP relay on loopback that counts connections: put it in front of a real TLS server to see
how many handshakes a client really starts (each TLS handshake needs its own connection here:
neither DoT nor DoH resumes one on an open connection).

    with TcpRelay(("127.0.0.1", ub.tls_port)) as relay:   # relay.port, relay.accepts
        ...

It can also hold connections without forwarding (`hang=True`): a server that accepts and
then never says a word, not even its half of the TLS handshake; or pass on only the first
`cut` bytes of each answer and then close (a transfer cut off halfway). `HungTls` goes one step
further: it completes the handshake, reads the queries, and never answers."""

from __future__ import annotations

import socket
import ssl
import threading


class TcpRelay:
    def __init__(self, target: tuple[str, int], *, hang: bool = False, cut: int | None = None) -> None:
        self.target = target
        self.hang = hang
        self.cut = cut
        self.accepts = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)  # so the loop notices `stop`
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepts += 1
            with self.lock:
                self.conns.append(client)
            if self.hang:
                continue
            try:
                server = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns.append(server)
            for a, b, limit in ((client, server, None), (server, client, self.cut)):
                threading.Thread(target=self._pipe, args=(a, b, limit), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, limit: int | None = None) -> None:
        src.settimeout(None)
        sent = 0
        try:
            while data := src.recv(65536):
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: limit - sent])
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> TcpRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()


class HungTls:
    """A TLS server that completes handshakes, reads, and never answers."""

    def __init__(self, cert_file: str, key_file: str) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert_file, key_file)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepts = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        conns = []
        while not self.stop.is_set():
            try:
                raw, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepts += 1
            raw.settimeout(2)
            try:
                conns.append(self.ctx.wrap_socket(raw, server_side=True))
            except OSError:
                raw.close()
        for c in conns:
            c.close()

    def __enter__(self) -> HungTls:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(3)
        self.sock.close()
