"""Batched UDP I/O for the hot loop: Linux recvmmsg(2)/sendmmsg(2) through ctypes.

One recvmmsg fills up to BATCH packets and one sendmmsg sends the prebuilt answers, so the
two syscalls a fast-path answer cost (recvfrom + sendto, most of its time) are shared by the
whole batch. Python's socket module has no recvmmsg; ctypes reaches libc's. Where ctypes or
the calls are missing (a Python without ctypes, a non-Linux libc), `available()` says so and
the server keeps its recvfrom/sendto loop.

Buffers are allocated once per socket and reused: the arrays of mmsghdr/iovec are written
through memoryviews of their raw bytes (an int store each), never through ctypes attributes;
packets and sender addresses are read from anonymous maps, whose slices are bytes.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

SLOT = 4096  # bytes per received packet (as recvfrom(4096)); longer datagrams are truncated
OUT = 4096  # bytes per answer slot: prebuilt answers are built to fit a UDP payload
NAME = 28  # sizeof(struct sockaddr_in6): the largest address a socket of ours returns
MSG_DONTWAIT = 0x40
_HDR = 64  # sizeof(struct mmsghdr) on LP64: msghdr (56) + msg_len (4) + padding
_IOV = 16  # sizeof(struct iovec) on LP64

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


class Batch:
    """The buffers of one socket: `recv()` returns how many packets arrived; packet i is
    `data(i)` from `sender(i)`; `reply(k, i, tail)` queues the answer (packet i's ID + tail)
    to the sender of packet i in send slot k; `flush(k)` sends the k queued answers."""

    def __init__(self, sock: socket.socket, batch: int = 64) -> None:
        import ctypes
        import mmap

        assert available() is None, available()
        self.fd = sock.fileno()
        self.n = batch
        self.v6 = sock.family == socket.AF_INET6
        self._keep: list[Any] = []  # ctypes buffers referenced by raw pointers below

        def buf(size: int) -> tuple[int, memoryview]:
            b = (ctypes.c_char * size)()
            self._keep.append(b)
            return ctypes.addressof(b), memoryview(b).cast("B")

        def pages(size: int) -> tuple[int, mmap.mmap]:
            # Packets and addresses live in anonymous maps: a slice of a map is bytes at once,
            # where a memoryview's slice is a view to copy into bytes (two objects per key)
            m = mmap.mmap(-1, size)
            view = ctypes.c_char.from_buffer(m)  # holds the map open while its address is in use
            self._keep.append((m, view))
            return ctypes.addressof(view), m

        self.in_addr, self.inbuf = pages(batch * SLOT)
        self.out_addr, self.outbuf = pages(batch * OUT)
        self.name_addr, self.names = pages(batch * NAME)
        rhdr_addr, rhdr = buf(batch * _HDR)
        shdr_addr, shdr = buf(batch * _HDR)
        riov_addr, riov = buf(batch * _IOV)
        siov_addr, siov = buf(batch * _IOV)
        self.rhdr_addr, self.shdr_addr = rhdr_addr, shdr_addr
        rq, sq = rhdr.cast("Q"), shdr.cast("Q")
        ri, si = riov.cast("Q"), siov.cast("Q")
        self.rlen = rhdr.cast("I")  # msg_len of header i is uint32 index i*16 + 14
        self.siov = si  # iov_len of send slot k is index k*2 + 1
        self.sq = sq  # msg_name of send slot k is index k*8
        rdi = rhdr.cast("I")
        sdi = shdr.cast("I")
        namelen = NAME if self.v6 else 16
        for i in range(batch):
            q = i * (_HDR // 8)
            # struct msghdr: name(0) namelen(8) iov(16) iovlen(24) control(32) controllen(40) flags(48)
            rq[q] = self.name_addr + i * NAME
            rdi[q * 2 + 2] = namelen
            rq[q + 2] = riov_addr + i * _IOV
            rq[q + 3] = 1
            ri[i * 2] = self.in_addr + i * SLOT
            ri[i * 2 + 1] = SLOT
            sq[q] = self.name_addr  # set per answer
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
        self.sq[k * 8] = self.name_addr + i * NAME
        return True

    def flush(self, k: int) -> int:
        """Send the k queued answers; what the socket cannot take now is dropped (as sendto's
        EAGAIN is: the client retries)."""
        sent = 0
        while sent < k:
            r = self._sendmmsg(self.fd, self.shdr_addr + sent * _HDR, k - sent, MSG_DONTWAIT)
            if r <= 0:
                if r < 0 and self._get_errno() == errno.EINTR:
                    continue
                # one undeliverable answer (e.g. EPERM, EINVAL) must not hold up the others
                sent += 1
                continue
            sent += r
        return sent
