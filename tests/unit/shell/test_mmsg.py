"""Batched UDP I/O (shell/mmsg.py) on real loopback sockets: what it reads matches what
recvfrom reads, and the answers it queues reach their senders with their IDs patched."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from dnsfilter.shell import mmsg

pytestmark = pytest.mark.skipif(mmsg.available() is not None, reason=mmsg.available() or "")


def pair(family: int, host: str) -> Iterator[tuple[socket.socket, socket.socket]]:
    try:
        server = socket.socket(family, socket.SOCK_DGRAM)
        server.bind((host, 0))
    except OSError as e:
        pytest.skip(f"no {host} here: {e}")
    server.setblocking(False)
    client = socket.socket(family, socket.SOCK_DGRAM)
    client.bind((host, 0))
    client.settimeout(2)
    yield server, client
    server.close()
    client.close()


@pytest.fixture(params=[(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")], ids=["v4", "v6"])
def sockets(request: pytest.FixtureRequest) -> Iterator[tuple[socket.socket, socket.socket]]:
    yield from pair(*request.param)


def test_reads_what_recvfrom_reads_and_answers_each_sender(sockets) -> None:
    server, client = sockets
    b = mmsg.Batch(server, batch=4)
    assert b.recv() == 0  # nothing waiting: returns at once
    packets = [bytes([0x10 + n, 0x20 + n]) + b"question %d" % n for n in range(6)]
    for p in packets:
        client.sendto(p, server.getsockname())
    got = b.recv()
    assert got == 4  # at most the batch size per call
    assert [b.data(i) for i in range(got)] == packets[:4]
    assert [b.question(i) for i in range(got)] == [p[2:] for p in packets[:4]]
    assert b.sender(0)[:2] == client.getsockname()[:2]
    assert len({b.key(i) for i in range(got)}) == 1
    for k, i in enumerate((3, 1)):  # answer two of them, out of order
        assert b.reply(k, i, b"answer %d" % i)
    assert b.flush(2) == 2
    assert client.recv(100) == packets[3][:2] + b"answer 3"
    assert client.recv(100) == packets[1][:2] + b"answer 1"
    # the rest of the queue comes with the next call
    assert b.recv() == 2 and b.data(1) == packets[5]
    # the sender exactly as recvfrom gives it (the slow path and the engine see this form)
    client.sendto(b"\x00\x01x", server.getsockname())
    assert b.sender(0) == server.recvfrom(100)[1]


def test_an_answer_longer_than_a_slot_is_not_queued(sockets) -> None:
    server, client = sockets
    b = mmsg.Batch(server, batch=2)
    client.sendto(b"\x00\x01q", server.getsockname())
    assert b.recv() == 1
    assert not b.reply(0, 0, b"x" * mmsg.OUT)
    assert b.reply(0, 0, b"x" * (mmsg.OUT - 2))
    assert b.flush(1) == 1 and len(client.recv(mmsg.OUT + 10)) == mmsg.OUT


def test_a_datagram_longer_than_a_slot_is_cut_as_recvfrom_4096_cuts_it(sockets) -> None:
    server, client = sockets
    b = mmsg.Batch(server, batch=2)
    client.sendto(b"\x00\x01" + b"y" * 5000, server.getsockname())
    assert b.recv() == 1 and len(b.data(0)) == mmsg.SLOT
