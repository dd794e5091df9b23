"""Batched UDP I/O for the hot loop: Linux recvmmsg(2)/sendmmsg(2) through ctypes.

One recvmmsg fills up to BATCH packets and one sendmmsg sends the prebuilt answers, so the
two syscalls a fast-path answer cost (recvfrom + sendto, most of its time) are shared by the
whole batch. Python's socket module has no recvmmsg; ctypes reaches libc's. Where ctypes or
the calls are missing (a Python without ctypes, a non-Linux libc), `available()` says so and
the server keeps its recvfrom/sendto loop.

Buffers are allocated once per socket and reused: the arrays of mmsghdr/iovec are written
through memoryviews of their raw bytes (an int store each), never through ctypes attributes;
packets and sender addresses are read from anonymous maps, whose slices are bytes.

The cache-miss path uses the two halves on their own: an `Outbox` gathers the datagrams one
event-loop pass produces for a socket (the answers to clients that upstream answers released,
the queries to one upstream socket) and sends them with one sendmmsg; an `Inbox` reads a
connected socket's datagrams (upstream answers, up to 64 KB each) with one recvmmsg.
"""

from __future__ import annotations

import errno
import socket
from typing import Any, Final

SLOT: Final = 4096  # bytes per received packet (as recvfrom(4096)); longer datagrams are truncated
OUT: Final = 4096  # bytes per answer slot: prebuilt answers are built to fit a UDP payload
NAME: Final = 28  # sizeof(struct sockaddr_in6): the largest address a socket of ours returns
MSG_DONTWAIT: Final = 0x40
_HDR: Final = 64  # sizeof(struct mmsghdr) on LP64: msghdr (56) + msg_len (4) + padding
_IOV: Final = 16  # sizeof(struct iovec) on LP64

_libc: Any = None
_why: str | None = None


def available() -> str | None:
    """None when batched I/O can be used here, else why not (said once in the log)."""
    global _libc, _why
    if _libc is not None or _why is not None:
        return _why
    try:
        import ctypes
        import ctypes.util
        import mmap  # noqa: F401  (the packet buffers: see Batch)

        if ctypes.sizeof(ctypes.c_void_p) != 8:
            _why = "batched UDP I/O is written for 64-bit Linux"
            return _why
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.recvmmsg.restype = libc.sendmmsg.restype = ctypes.c_int
        libc.recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
        libc.sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
        _libc = libc
    except (ImportError, OSError, AttributeError) as e:
        _why = f"batched UDP I/O unavailable ({e})"
    return _why


def _buf(keep: list[Any], size: int) -> tuple[int, memoryview]:
    """A zeroed C buffer (the mmsghdr/iovec arrays): its address and a byte view of it."""
    import ctypes

    b = (ctypes.c_char * size)()
    keep.append(b)
    return ctypes.addressof(b), memoryview(b).cast("B")


def _pages(keep: list[Any], size: int) -> tuple[int, Any]:
    """An anonymous map (packets, addresses): a slice of it is bytes at once, where a
    memoryview's slice is a view to copy into bytes (two objects per key). Pages are only
    made resident as the kernel writes into them."""
    import ctypes
    import mmap

    m = mmap.mmap(-1, size)
    view = ctypes.c_char.from_buffer(m)  # holds the map open while its address is in use
    keep.append((m, view))
    return ctypes.addressof(view), m


def _send_all(sendmmsg: Any, get_errno: Any, fd: int, hdr_addr: int, k: int) -> list[tuple[int, int]]:
    """sendmmsg the k messages from hdr_addr on; (index, errno) of each one the socket refused.
    sendmmsg stops at the first message that fails (returning the count sent before it, or -1
    for the first): that one is skipped and the rest sent on."""
    failed: list[tuple[int, int]] = []
    sent = 0
    while sent < k:
        r = sendmmsg(fd, hdr_addr + sent * _HDR, k - sent, MSG_DONTWAIT)
        if r <= 0:
            err = get_errno() if r < 0 else errno.EIO
            if err == errno.EINTR:
                continue
            failed.append((sent, err))  # one undeliverable message must not hold up the others
            sent += 1
            continue
        sent += r
    return failed


class Outbox:
    """Datagrams queued for one sendmmsg: `put(k, data, name)` fills slot k (`name`: the raw
    sockaddr to send to, from a packet read by a Batch; none on a connected socket), `flush(fd,
    k)` sends slots 0..k-1 and says which the socket refused. Up to `n` slots of `size` bytes."""

    def __init__(self, n: int = 64, size: int = OUT, named: bool = True) -> None:
        assert available() is None, available()
        import ctypes

        self.n, self.size = n, size
        self._keep: list[Any] = []
        self.out_addr, self.outbuf = _pages(self._keep, n * size)
        self.name_addr, self.names = _pages(self._keep, n * NAME if named else 1)  # unused unless named
        self.hdr_addr, hdr = _buf(self._keep, n * _HDR)
        iov_addr, iov = _buf(self._keep, n * _IOV)
        hq, self.hdr32, self.iov = hdr.cast("Q"), hdr.cast("I"), iov.cast("Q")
        for k in range(n):
            q = k * (_HDR // 8)
            hq[q] = self.name_addr + k * NAME if named else 0  # msg_name (its length set per put)
            hq[q + 2] = iov_addr + k * _IOV
            hq[q + 3] = 1
            self.iov[k * 2] = self.out_addr + k * size
        self._sendmmsg = _libc.sendmmsg
        self._get_errno = ctypes.get_errno

    def put(self, k: int, data: bytes, name: bytes = b"") -> bool:
        """Queue `data` in slot k (to `name`, if given); False (nothing queued) if it is
        longer than a slot."""
        size = len(data)
        if size > self.size:
            return False
        out = k * self.size
        self.outbuf[out : out + size] = data
        self.iov[k * 2 + 1] = size
        if name:
            off = k * NAME
            self.names[off : off + len(name)] = name
            self.hdr32[k * 16 + 2] = len(name)  # msg_namelen
        return True

    def flush(self, fd: int, k: int) -> list[tuple[int, int]]:
        """Send slots 0..k-1 on `fd`; (slot, errno) of each one refused (what the socket cannot
        take now is dropped, as sendto's EAGAIN is: the asker retries)."""
        return _send_all(self._sendmmsg, self._get_errno, fd, self.hdr_addr, k)


class Replies:
    """Answers queued for one listener socket (the server's cache-miss answers), sent together
    by `flush`."""

    __slots__ = ("sock", "box", "k")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.box = Outbox()
        self.k = 0  # slots queued

    def add(self, data: bytes, name: bytes) -> bool:
        """Queue `data` to the raw address `name` (a full box is sent at once); False (nothing
        queued) if it is longer than a slot."""
        k = self.k
        if not self.box.put(k, data, name):
            return False
        self.k = k + 1
        if k + 1 == self.box.n:
            self.flush()
        return True

    def flush(self) -> None:
        k, self.k = self.k, 0
        if k and self.sock.fileno() >= 0:  # a closed listener's number may be another socket's now
            self.box.flush(self.sock.fileno(), k)


class Inbox:
    """recvmmsg on a connected socket: `recv(fd)` reads up to `n` datagrams (0: none waiting,
    -errno: an error reported on the socket, e.g. ICMP port unreachable); datagram i is
    `data(i)`, whole up to MAX (64 KB, as recv(65535))."""

    MAX = 65535

    def __init__(self, n: int = 16) -> None:
        assert available() is None, available()
        import ctypes

        self.n = n
        self._keep: list[Any] = []
        slot = 65536
        self.slot = slot
        in_addr, self.inbuf = _pages(self._keep, n * slot)  # touched only as far as datagrams reach
        self.hdr_addr, hdr = _buf(self._keep, n * _HDR)
        iov_addr, iov = _buf(self._keep, n * _IOV)
        hq, ri = hdr.cast("Q"), iov.cast("Q")
        self.rlen = hdr.cast("I")  # msg_len of header i is uint32 index i*16 + 14
        for i in range(n):
            q = i * (_HDR // 8)
            hq[q + 2] = iov_addr + i * _IOV
            hq[q + 3] = 1
            ri[i * 2] = in_addr + i * slot
            ri[i * 2 + 1] = self.MAX
        self._recvmmsg = _libc.recvmmsg
        self._get_errno = ctypes.get_errno

    def recv(self, fd: int) -> int:
        got = self._recvmmsg(fd, self.hdr_addr, self.n, MSG_DONTWAIT, None)
        if got < 0:
            err = self._get_errno()
            return 0 if err in (errno.EAGAIN, errno.EINTR) else -err
        return got

    def data(self, i: int) -> bytes:
        off = i * self.slot
        return self.inbuf[off : off + self.rlen[i * 16 + 14]]


class Batch:
    """The buffers of one socket: `recv()` returns how many packets arrived; packet i is
    `data(i)` from `sender(i)`; `reply(k, i, tail)` queues the answer (packet i's ID + tail)
    to the sender of packet i in send slot k; `flush(k)` sends the k queued answers."""

    def __init__(self, sock: socket.socket, batch: int = 64) -> None:
        import ctypes

        assert available() is None, available()
        self.fd = sock.fileno()
        self.n = batch
        self.v6 = sock.family == socket.AF_INET6
        self.namelen = NAME if self.v6 else 16  # the raw sockaddr of a sender: see `name`
        self._keep: list[Any] = []  # ctypes buffers referenced by raw pointers below
        self.in_addr, self.inbuf = _pages(self._keep, batch * SLOT)
        self.out_addr, self.outbuf = _pages(self._keep, batch * OUT)
        self.name_addr, self.names = _pages(self._keep, batch * NAME)
        rhdr_addr, rhdr = _buf(self._keep, batch * _HDR)
        shdr_addr, shdr = _buf(self._keep, batch * _HDR)
        riov_addr, riov = _buf(self._keep, batch * _IOV)
        siov_addr, siov = _buf(self._keep, batch * _IOV)
        self.rhdr_addr, self.shdr_addr = rhdr_addr, shdr_addr
        rq, sq = rhdr.cast("Q"), shdr.cast("Q")
        ri, si = riov.cast("Q"), siov.cast("Q")
        self.rlen = rhdr.cast("I")  # msg_len of header i is uint32 index i*16 + 14
        self.siov = si  # iov_len of send slot k is index k*2 + 1
        self.sq = sq  # msg_name of send slot k is index k*8
        # Which packet's sender each send slot names now: a slot is written only when it
        # changes (when every packet of a batch is answered at once, never)
        self.sent_to = list(range(batch))
        rdi = rhdr.cast("I")
        sdi = shdr.cast("I")
        namelen = self.namelen
        for i in range(batch):
            q = i * (_HDR // 8)
            # struct msghdr: name(0) namelen(8) iov(16) iovlen(24) control(32) controllen(40) flags(48)
            rq[q] = self.name_addr + i * NAME
            rdi[q * 2 + 2] = namelen
            rq[q + 2] = riov_addr + i * _IOV
            rq[q + 3] = 1
            ri[i * 2] = self.in_addr + i * SLOT
            ri[i * 2 + 1] = SLOT
            sq[q] = self.name_addr + i * NAME  # packet i's sender: set per answer where k != i
            sdi[q * 2 + 2] = namelen
            sq[q + 2] = siov_addr + i * _IOV
            sq[q + 3] = 1
            si[i * 2] = self.out_addr + i * OUT
        self._recvmmsg = _libc.recvmmsg
        self._sendmmsg = _libc.sendmmsg
        self._get_errno = ctypes.get_errno

    def recv(self) -> int:
        """Packets waiting now (0 when none): never blocks."""
        got = self._recvmmsg(self.fd, self.rhdr_addr, self.n, MSG_DONTWAIT, None)
        if got < 0:
            err = self._get_errno()
            if err in (errno.EAGAIN, errno.EINTR):
                return 0
            # e.g. ECONNREFUSED reported on the socket (an ICMP error): the next call reads on
            return -1
        return got

    def data(self, i: int) -> bytes:
        """Packet i as recvfrom(4096) returns it."""
        off = i * SLOT
        return self.inbuf[off : off + min(self.rlen[i * 16 + 14], SLOT)]

    def qid(self, i: int) -> int:
        """Packet i's ID."""
        off = i * SLOT
        return self.inbuf[off] << 8 | self.inbuf[off + 1]

    def question(self, i: int) -> bytes:
        """Packet i without its ID: the fast path's key."""
        off = i * SLOT
        return self.inbuf[off + 2 : off + min(self.rlen[i * 16 + 14], SLOT)]

    def key(self, i: int) -> bytes:
        """The sender's raw address (IPv6: with its scope id), a dict key for its text form."""
        off = i * NAME
        return self.names[off + 8 : off + 28] if self.v6 else self.names[off + 4 : off + 8]

    def name(self, i: int) -> bytes:
        """The sender's raw sockaddr, to answer it later through an Outbox."""
        off = i * NAME
        return self.names[off : off + self.namelen]

    def sender(self, i: int) -> tuple[str, int] | tuple[str, int, int, int]:
        """The sender exactly as socket.recvfrom gives it (link-local IPv6 with its %scope)."""
        off = i * NAME
        n = self.names
        port = n[off + 2] << 8 | n[off + 3]
        if self.v6:
            ip = socket.inet_ntop(socket.AF_INET6, n[off + 8 : off + 24])
            flow = int.from_bytes(n[off + 4 : off + 8], "big")
            scope = int.from_bytes(n[off + 24 : off + 28], "little")
            if scope:
                ip = socket.getnameinfo((ip, port, flow, scope), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)[0]
            return (ip, port, flow, scope)
        return (socket.inet_ntop(socket.AF_INET, n[off + 4 : off + 8]), port)

    def reply(self, k: int, i: int, tail: bytes) -> bool:
        """Queue in send slot k the answer `ID of packet i + tail` to the sender of packet i;
        False (nothing queued) for an answer longer than a slot."""
        out = k * OUT
        size = len(tail) + 2
        if size > OUT:
            return False
        src = i * SLOT
        ob = self.outbuf
        ob[out : out + 2] = self.inbuf[src : src + 2]
        ob[out + 2 : out + size] = tail
        self.siov[k * 2 + 1] = size
        if self.sent_to[k] != i:
            self.sq[k * 8] = self.name_addr + i * NAME
            self.sent_to[k] = i
        return True

    def flush(self, k: int) -> int:
        """Send the k queued answers; what the socket cannot take now is dropped (as sendto's
        EAGAIN is: the client retries)."""
        return k - len(_send_all(self._sendmmsg, self._get_errno, self.fd, self.shdr_addr, k))
