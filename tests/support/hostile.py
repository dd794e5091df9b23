"""Hostile UDP load for memory-bound tests: many packets, bounded in count and time, from many
loopback source addresses, each kind aimed at one of the daemon's bounded structures.

- random subdomains of a blocked name: every one a new prebuilt fast-path answer;
- random names under the upstream's zone (NXDOMAIN with SOA): cache entries, fast-path answers,
  upstream queries in flight;
- the same names in random letter case and with random EDNS options: new fast-path keys;
- mutated queries (bit flips, truncations, bad counts, compression loops): the malformed path;
- a new source address now and then (127.0.0.0/8): per-client state (fast-path slots,
  identification, the devices seen).

Nothing is read back: the sender never waits, and the daemon's answers to it are dropped by
the kernel when its socket buffer is full."""

from __future__ import annotations

import random
import socket
import struct
import time
from dataclasses import dataclass


@dataclass
class Sent:
    packets: int = 0
    sources: int = 0
    seconds: float = 0.0


def _name(rng: random.Random, suffix: str) -> bytes:
    out = bytearray()
    for _ in range(rng.randint(1, 3)):
        label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(3, 20)))
        out.append(len(label))
        out += label.encode()
    for label in suffix.split("."):
        out.append(len(label))
        out += label.encode()
    return bytes(out) + b"\x00"


def _query(rng: random.Random, qname: bytes) -> bytes:
    qtype = rng.choice((1, 1, 1, 28, 28, 16, 15, 65))
    flags = 0x0100 | (0x0010 if rng.random() < 0.1 else 0)
    edns = rng.random() < 0.8
    head = struct.pack(">HHHHHH", rng.getrandbits(16), flags, 1, 0, 0, 1 if edns else 0)
    body = qname + struct.pack(">HH", qtype, 1)
    if edns:
        opts = b""
        if rng.random() < 0.3:
            data = rng.randbytes(rng.randint(0, 16))
            opts = struct.pack(">HH", rng.choice((10, 12, 65001, 8)), len(data)) + data
        do = 0x8000 if rng.random() < 0.3 else 0
        body += b"\x00" + struct.pack(">HHIH", 41, rng.choice((512, 1232, 4096)), do, len(opts)) + opts
    return head + body


def _recase(rng: random.Random, packet: bytes) -> bytes:
    b = bytearray(packet)
    for i in range(13, min(len(b), 60)):
        if 0x61 <= b[i] <= 0x7A and rng.random() < 0.5:
            b[i] ^= 0x20
    return bytes(b)


def _mutate(rng: random.Random, packet: bytes) -> bytes:
    b = bytearray(packet)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(5)
        if kind == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del b[rng.randrange(len(b) + 1):]
        elif kind == 2 and len(b) >= 12:
            b[rng.randrange(4, 12)] = rng.choice((0, 1, 2, 0xFF))
        elif kind == 3 and len(b) > 14:
            b[12:14] = b"\xc0\x0c"  # a question that points at itself
        else:
            b += rng.randbytes(rng.randint(1, 30))
    return bytes(b)


def flood(port: int, count: int, seconds: float, *, blocked: str, zone: str, seed: int = 16,
          new_source_every: int = 200, pace: int = 0) -> Sent:
    """Send up to `count` hostile packets to 127.0.0.1:`port` within `seconds`. `pace`: at most
    that many packets a second (0: as fast as the sender goes)."""
    rng = random.Random(seed)
    sent = Sent()
    start = time.monotonic()
    sock: socket.socket | None = None
    try:
        while sent.packets < count:
            now = time.monotonic()
            if now - start >= seconds:
                break
            if sock is None or sent.packets % new_source_every == 0:
                if sock is not None:
                    sock.close()
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                n = sent.sources
                sock.bind((f"127.{1 + (n >> 16) % 250}.{(n >> 8) & 255}.{1 + (n & 255) % 254}", 0))
                sock.setblocking(False)
                sent.sources += 1
            kind = rng.random()
            if kind < 0.3:
                packet = _query(rng, _name(rng, blocked))
            elif kind < 0.6:
                packet = _query(rng, _name(rng, zone))
            elif kind < 0.75:
                packet = _recase(rng, _query(rng, _name(rng, zone)))
            else:
                packet = _mutate(rng, _query(rng, _name(rng, zone)))
            try:
                sock.sendto(packet, ("127.0.0.1", port))
            except (BlockingIOError, OSError):
                time.sleep(0.001)  # the socket buffer is full: let the daemon catch up
                continue
            sent.packets += 1
            if pace and sent.packets % 100 == 0:
                ahead = sent.packets / pace - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        if sock is not None:
            sock.close()
        sent.seconds = time.monotonic() - start
    return sent
