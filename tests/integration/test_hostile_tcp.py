"""DNS over TCP against clients that misbehave, on the real daemon: resets (SO_LINGER 0) in the
middle of pipelined queries leave no traceback and only a few rate-limited log lines; at the
connection limit the connection idle the longest is closed to admit a new client (RFC 7766
§6.2.3), and a client is refused only when every connection is busy; both are counted."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable

import dns.message
import pytest

from tests.support.daemon import DaemonProcess, cli
from tests.support.scripted import Scripted

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NAMES = ["www.example.test", "mx.example.test", "big.example.test", "cdn.example.test", "nothere.example.test"]


def framed(name: str, qid: int, rdtype: str = "A") -> bytes:
    q = dns.message.make_query(name, rdtype)
    q.id = qid
    w = q.to_wire()
    return struct.pack(">H", len(w)) + w


def rst_client(port: int, n: int, seed: int) -> None:
    """Pipeline `n` queries, then close with a reset (SO_LINGER 0) without reading a byte."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(b"".join(framed(NAMES[(seed + i) % len(NAMES)], seed * 100 + i) for i in range(n)))
        if seed % 3 == 0:
            time.sleep(0.02)  # some reset while their answers are being written, some at once
    finally:
        s.close()


def tcp_query(port: int, name: str = "www.example.test", timeout: float = 3.0) -> dns.message.Message:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        return exchange(s, name)


def exchange(s: socket.socket, name: str, qid: int = 7) -> dns.message.Message:
    s.sendall(framed(name, qid))
    size = struct.unpack(">H", recv_exact(s, 2))[0]
    return dns.message.from_wire(recv_exact(s, size))


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the server")
        buf += chunk
    return buf


def status(d: DaemonProcess) -> dict:
    out = cli("ctl", "-c", str(d.config_path), "status")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def new_lines(d: DaemonProcess, mark: int) -> list[str]:
    return d.log()[mark:].splitlines()


def test_reset_clients_leave_no_traceback(make_daemon: Callable[..., DaemonProcess], upstream: Scripted) -> None:
    upstream.delay = 0.01  # answers arrive after some clients have gone
    d = make_daemon(upstream.addr)
    assert tcp_query(d.port).rcode() == 0  # warm: the names' answers come from the cache after this
    mark = len(d.log())
    threads = []
    for batch in range(10):
        for i in range(10):
            seed = batch * 10 + i
            t = threading.Thread(target=rst_client, args=(d.port, 30, seed), daemon=True)
            threads.append(t)
            t.start()
        for t in threads[-10:]:
            t.join(10)
    time.sleep(1.0)  # let the daemon finish with them
    lines = new_lines(d, mark)
    assert not [ln for ln in lines if "Traceback" in ln or "Unhandled" in ln or "ERROR" in ln], "\n".join(lines)
    # the 100 resets cost a few rate-limited lines at most (the issue saw 420 lines, 37 tracebacks)
    assert len(lines) <= 12, "\n".join(lines)
    assert d.alive() and tcp_query(d.port).rcode() == 0
    assert status(d)["tcp"]["connections"] == 0


def test_idle_connection_is_closed_to_admit_a_new_client(make_daemon: Callable[..., DaemonProcess],
                                                          upstream: Scripted) -> None:
    d = make_daemon(upstream.addr, dns="tcp_max_connections = 3\ntcp_idle_timeout = 30")
    held = []
    for i in range(3):  # three clients at the limit, each answered once and then idle
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        assert exchange(s, "www.example.test", i).rcode() == 0
        held.append(s)
        time.sleep(0.05)  # so that the first is the one idle the longest
    assert exchange(held[1], "mx.example.test", 11).rcode() == 0  # the second is used again: not the oldest
    assert tcp_query(d.port).rcode() == 0  # a fourth client is served, not reset
    held[0].settimeout(3)
    assert held[0].recv(1) == b"", "the connection idle the longest was closed for it"
    for s in held[1:]:  # the others still work
        assert exchange(s, "www.example.test", 21).rcode() == 0
    st = status(d)["tcp"]
    assert st["evicted"] == 1 and st["refused"] == 0
    metrics = cli("ctl", "-c", str(d.config_path), "metrics").stdout
    assert "dnsfilter_tcp_evicted_total 1" in metrics
    for s in held:
        s.close()


def test_busy_connections_are_not_closed_for_a_new_client(make_daemon: Callable[..., DaemonProcess],
                                                          upstream: Scripted) -> None:
    d = make_daemon(upstream.addr, dns="tcp_max_connections = 2\ntcp_idle_timeout = 30")
    held = []
    for _ in range(2):  # mid-query: one byte of a length prefix sent, the rest not yet
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall(b"\x00")
        held.append(s)
    time.sleep(0.2)
    late = socket.create_connection(("127.0.0.1", d.port), timeout=3)
    with pytest.raises((ConnectionError, OSError)):
        exchange(late, "www.example.test")
    late.close()
    st = status(d)["tcp"]
    assert st["refused"] == 1 and st["evicted"] == 0 and st["connections"] == 2
    for s in held:  # they finish their queries and are answered
        w = framed("www.example.test", 5)
        s.sendall(w[1:])
        size = struct.unpack(">H", recv_exact(s, 2))[0]
        assert dns.message.from_wire(recv_exact(s, size)).rcode() == 0
        s.close()
