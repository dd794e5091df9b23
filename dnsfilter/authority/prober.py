"""Ask a resolver many names over UDP, a bounded number in flight and at a bounded rate, and
hand each answer (or its absence) to a check. The self-test's network part: answers are read
by dnspython, a parser other than the daemon's own; queries (a name, type A, EDNS with a 1232
payload, RD) are written here, which costs a tenth of building them with dnspython.

Bounded: at most `window` queries in flight, at most `rate` queries a second (a token bucket),
each retried twice after `timeout` seconds, then counted as unanswered. Loopback by default is
the caller's business (selftest.server_of).
"""

from __future__ import annotations

import random
import select
import socket
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

MAX_RATE = 50_000  # queries a second, whatever is asked: a self-test must never become a flood
RETRIES = 2


@dataclass(slots=True)
class _Pending:
    name: str
    tag: Any
    wire: bytes
    sent: float
    tries: int


def probe(items: Iterable[tuple[str, Any]], server: tuple[str, int], check: Callable[[str, Any, Any], None], *,
          rate: float = 200.0, window: int = 64, timeout: float = 2.0) -> int:
    """Query A for each (name, tag) of `items`; `check(name, tag, message or None)` for each
    (None: no answer after the retries). Returns the number of names asked."""
    rate = max(1.0, min(float(rate), MAX_RATE))
    window = max(1, min(window, 1024))
    fam = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect(server)
    ids = random.Random()  # query ids: unpredictable, unique among those in flight
    pending: dict[int, _Pending] = {}
    source: Iterator[tuple[str, Any]] = iter(items)
    asked = 0
    started = time.monotonic()
    sent = 0
    more = True
    next_sweep = started
    try:
        while more or pending:
            now = time.monotonic()
            budget = int((now - started) * rate) + 1 - sent  # the token bucket: rate a second, burst 1
            while more and len(pending) < window and budget > 0:
                nxt = next(source, None)
                if nxt is None:
                    more = False
                    break
                qid = ids.randrange(1 << 16)
                while qid in pending:
                    qid = ids.randrange(1 << 16)
                try:
                    wire = _query(qid, nxt[0])
                except ValueError:  # not a name a query can carry: reported as unanswered
                    check(nxt[0], nxt[1], None)
                    continue
                pending[qid] = _Pending(nxt[0], nxt[1], wire, now, 1)
                _send(sock, wire)
                sent += 1
                budget -= 1
                asked += 1
            # wait for answers until the next send is allowed (or at most 50 ms)
            wake = started + (sent + 1) / rate if more and len(pending) < window else now + 0.05
            ready, _w, _x = select.select([sock], [], [], max(0.0, min(wake - time.monotonic(), 0.05)))
            if ready:
                _drain(sock, pending, check)
            now = time.monotonic()
            if now >= next_sweep:  # timeouts, looked for a few times a second, not per answer
                next_sweep = now + min(timeout / 4, 0.1)
                for qid, p in [(k, v) for k, v in pending.items() if v.sent + timeout <= now]:
                    if p.tries > RETRIES:
                        del pending[qid]
                        check(p.name, p.tag, None)
                    else:
                        p.tries, p.sent = p.tries + 1, now
                        _send(sock, p.wire)
    finally:
        sock.close()
    return asked


_TAIL = struct.pack(">HH", 1, 1) + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"  # A IN, OPT 1232


def _query(qid: int, name: str) -> bytes:
    """A query for the A record of `name` (ASCII, dotted): RD set, one OPT record."""
    labels = name.rstrip(".").encode("ascii").split(b".")
    if any(not 0 < len(lab) < 64 for lab in labels) or sum(len(lab) + 1 for lab in labels) > 254:
        raise ValueError(f"not a DNS name: {name!r}")
    return (struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1) + b"".join(bytes((len(lab),)) + lab for lab in labels)
            + b"\x00" + _TAIL)


def _send(sock: socket.socket, wire: bytes) -> None:
    try:
        sock.send(wire)
    except (BlockingIOError, ConnectionRefusedError, InterruptedError):
        pass  # retried after the timeout like a lost packet


def _drain(sock: socket.socket, pending: dict[int, _Pending], check: Callable[[str, Any, Any], None]) -> None:
    import dns.exception
    import dns.message

    while True:
        try:
            data = sock.recv(65535)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionRefusedError:  # ICMP port unreachable: nobody answers there (yet)
            return
        if len(data) < 12:
            continue
        p = pending.get(int.from_bytes(data[:2]))
        if p is None:
            continue  # a late answer to a retried query, already counted
        try:
            msg = dns.message.from_wire(data)
        except dns.exception.DNSException:
            continue  # unreadable: the query is retried, then counted unanswered
        if not msg.question or msg.question[0].name.to_text(omit_final_dot=True).lower() != p.name.lower():
            continue
        del pending[msg.id]
        check(p.name, p.tag, msg)
