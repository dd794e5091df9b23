"""Batched UDP I/O (shell/mmsg.py) on real loopback sockets: what it reads matches what
recvfrom reads, and the answers it queues reach their senders with their IDs patched; the
cache-miss path's halves (Outbox, Inbox) send to each sender or on a connected socket, read
whole datagrams and report the errors the kernel reports."""

from __future__ import annotations

import errno
import socket
import time
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


def test_an_outbox_answers_each_sender_at_its_own_address(sockets) -> None:
    """The cache-miss path's answers: queued with the raw address a Batch read, sent later in
    one call, each to its own client."""
    server, client = sockets
    family, host = server.family, server.getsockname()[0]
    other = socket.socket(family, socket.SOCK_DGRAM)
    other.bind((host, 0))
    other.settimeout(2)
    try:
        b = mmsg.Batch(server, batch=4)
        client.sendto(b"\x00\x01one", server.getsockname())
        other.sendto(b"\x00\x02two", server.getsockname())
        assert b.recv() == 2
        names = [b.name(0), b.name(1)]
        box = mmsg.Outbox(n=4)
        assert box.put(0, b"\x00\x02answer two", names[1]) and box.put(1, b"\x00\x01answer one", names[0])
        assert not box.put(2, b"x" * (mmsg.OUT + 1), names[0])  # longer than a slot: not queued
        assert box.flush(server.fileno(), 2) == []
        assert client.recv(100) == b"\x00\x01answer one"
        assert other.recv(100) == b"\x00\x02answer two"
    finally:
        other.close()


def test_an_outbox_on_a_connected_socket_says_which_sends_failed() -> None:
    """The upstream queries' path: no addresses (the socket is connected); a send the kernel
    refuses (here: ICMP port unreachable reported from an earlier send) is named, the others go."""
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.bind(("127.0.0.1", 0))
    up.settimeout(2)
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    dead_addr = dead.getsockname()
    dead.close()  # nobody listens there now: the kernel answers with port unreachable
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        a.connect(up.getsockname())
        b.connect(dead_addr)
        box = mmsg.Outbox(n=4, size=512, named=False)
        for k in range(3):
            assert box.put(k, b"query %d" % k)
        assert box.flush(a.fileno(), 3) == []
        assert [up.recv(100) for _ in range(3)] == [b"query 0", b"query 1", b"query 2"]
        b.send(b"first")  # draws the ICMP error, reported on b's next call
        time.sleep(0.05)
        failed = box.flush(b.fileno(), 2)
        assert failed and failed[0] == (0, errno.ECONNREFUSED)
    finally:
        for s in (up, a, b):
            s.close()


def test_an_inbox_reads_whole_datagrams_and_reports_errors() -> None:
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.bind(("127.0.0.1", 0))
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        c.connect(up.getsockname())
        c.setblocking(False)
        box = mmsg.Inbox(n=2)
        assert box.recv(c.fileno()) == 0  # nothing waiting: at once
        sizes = [12, 9000, 1232]  # beyond a listener's 4096-byte slot: read whole, as recv(65535)
        for n in sizes:
            up.sendto(bytes([n & 0xFF]) * n, c.getsockname())
        assert box.recv(c.fileno()) == 2 and [box.data(i) for i in range(2)] == [bytes([n & 0xFF]) * n for n in sizes[:2]]
        assert box.recv(c.fileno()) == 1 and box.data(0) == bytes([1232 & 0xFF]) * 1232
        up.close()
        c.send(b"to nobody")  # port unreachable comes back as an error on the socket
        time.sleep(0.05)
        assert box.recv(c.fileno()) == -errno.ECONNREFUSED
    finally:
        up.close()
        c.close()


def test_replies_send_a_full_box_at_once_and_the_rest_on_flush(sockets) -> None:
    server, client = sockets
    b = mmsg.Batch(server, batch=1)
    client.sendto(b"\x00\x01q", server.getsockname())
    assert b.recv() == 1
    r = mmsg.Replies(server)
    n = r.box.n + 6
    for i in range(n):
        assert r.add(b"answer %d" % i, b.name(0))
    assert r.k == 6  # the first box went when it was full
    assert [client.recv(100) for _ in range(r.box.n)] == [b"answer %d" % i for i in range(r.box.n)]
    assert not r.add(b"x" * (mmsg.OUT + 1), b.name(0)) and r.k == 6  # too long: not queued
    r.flush()
    assert r.k == 0 and [client.recv(100) for _ in range(6)] == [b"answer %d" % i for i in range(r.box.n, n)]
    server.close()
    assert r.add(b"late", b.name(0))
    r.flush()  # its socket closed: nothing sent, no error


def test_each_answer_goes_to_its_own_sender_as_send_slots_change_hands(sockets) -> None:
    """A send slot's address is written only when the packet it answers changes (Batch.sent_to):
    over several batches, from two clients, with some packets left unanswered and answers out
    of order, every answer still reaches the client that asked, and only that one."""
    server, first = sockets
    family, host = server.family, server.getsockname()[0]
    second = socket.socket(family, socket.SOCK_DGRAM)
    second.bind((host, 0))
    second.settimeout(2)
    try:
        b = mmsg.Batch(server, batch=4)
        clients = (first, second)
        plans = [(0, 1, 2, 3), (1, 3), (2, 0, 3), (3,), (0, 1, 2, 3)]  # which packets are answered, in slot order
        for round_, answered in enumerate(plans):
            for n in range(4):  # packet n from client n % 2 (round 1: the other way round)
                c = clients[(n + round_) % 2]
                c.sendto(bytes((round_, n)) + b"q", server.getsockname())
            assert b.recv() == 4
            for k, i in enumerate(answered):
                assert b.reply(k, i, b"a%d" % i)
            assert b.flush(len(answered)) == len(answered)
            for n, c in enumerate(clients):
                want = sorted(bytes((round_, i)) + b"a%d" % i for i in answered if (i + round_) % 2 == n)
                got = sorted(c.recv(100) for _ in want)
                assert got == want
                c.settimeout(0.05)
                with pytest.raises(TimeoutError):
                    c.recv(100)  # nothing more: no answer went to the wrong client
                c.settimeout(2)
    finally:
        second.close()
