"""The DNS listeners: UDP with a tight hot loop, TCP per RFC 7766 (shell/tcp.py), and upstream dispatch.

UDP packets are drained in batches straight from a non-blocking socket. A packet whose
client and question bytes have a prebuilt answer (engine.fast) is answered right there:
recvfrom → two dict lookups → sendto; a first sight of a blocked name is answered from its
bytes (Engine.first_sight). Everything else goes through the sans-IO engine, and its Forward
actions go upstream through the Lane (shell/upstream/lane.py), without a task per query.

With batched I/O, the answers the engine releases outside a listener's own batch (upstream
answers, most of all) are queued per listener (`Replies`) and sent at the start of the next
loop pass, one sendmmsg per listener: sent one by one, each woke its client anew, which cost
more than the rest of the send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Final, cast

from dnsfilter.config import Listen
from dnsfilter.core.engine import Action, Engine, Forward, Pending, Send, SyncFeed
from dnsfilter.core.fastpath import Slot, restamp
from dnsfilter.shell import mmsg
from dnsfilter.shell.mmsg import Replies
from dnsfilter.shell.sockets import tcp_socket, udp_socket
from dnsfilter.shell.tcp import PEER_ERRORS, TcpClient, TcpListener
from dnsfilter.shell.upstream.lane import Lane
from dnsfilter.shell.upstream.pool import UpstreamPool

BATCH: Final = 512  # packets per wake-up, so TCP and upstream answers get their turn under load
log = logging.getLogger("dnsfilter.server")


class DnsServer(TcpListener):
    def __init__(self, engine: Engine, pool: UpstreamPool, *, tcp_idle: float = 10.0, tcp_max: int = 256,
                 clock: Callable[[], float] = time.monotonic, batch_io: bool = True) -> None:
        self.engine = engine
        self.tcp_idle = tcp_idle
        self.tcp_max = tcp_max
        self.clock = clock
        self.udp: list[tuple[socket.socket, str]] = []
        self.tcp_servers: list[asyncio.Server] = []
        self.tcp_clients: set[TcpClient] = set()
        self.tcp_evicted = 0  # idle connections closed to admit a new one at tcp_max (RFC 7766 §6.2.3)
        self.tcp_refused = 0  # connections closed at once: tcp_max reached and none idle
        self.lane = Lane(pool)  # Forwards go upstream through it: no task per query
        self.loop: asyncio.AbstractEventLoop | None = None
        # listeners that follow interface addresses (listen = ["lan"]), opened and closed at run time
        self.dynamic: dict[Listen, tuple[socket.socket, asyncio.Server]] = {}
        self.reuseport = False
        self.batch_io = batch_io and mmsg.available() is None
        if batch_io and not self.batch_io:
            log.info("%s: one UDP packet per system call", mmsg.available())
        self._ips: dict[bytes, str] = {}  # raw sender address -> its text (batched path)
        self._queued: list[Replies] = []  # listeners with answers to send at the next flush
        self.on_sync: Callable[[str], None] | None = None  # a feed's primary sent a NOTIFY we accepted

    @property
    def pool(self) -> UpstreamPool:
        return self.lane.pool

    @pool.setter
    def pool(self, pool: UpstreamPool) -> None:
        """A reload's new upstreams: the Lane asks them from the next question on."""
        self.lane.pool = pool

    async def start(self, listens: tuple[Listen, ...] | list[Listen], reuseport: bool = False) -> None:
        self.loop = asyncio.get_running_loop()
        self.reuseport = reuseport
        try:
            for lst in listens:
                await self._open(lst)
        except OSError:
            await self.close()
            raise

    async def _open(self, lst: Listen) -> tuple[socket.socket, asyncio.Server]:
        assert self.loop is not None
        local = lst.host.partition("%")[0]  # the engine answers its own name with this address
        us = udp_socket(lst, self.reuseport)
        try:
            # An ephemeral port (0) takes the same number for TCP as UDP got.
            ts = tcp_socket(Listen(lst.host, us.getsockname()[1]), self.reuseport)
            srv = await asyncio.start_server(self._tcp_conn, sock=ts)
        except OSError:
            us.close()
            raise
        self.udp.append((us, local))
        if self.batch_io:
            self.loop.add_reader(us.fileno(), self._drain_batched, us, local, mmsg.Batch(us), Replies(us))
        else:
            self.loop.add_reader(us.fileno(), self._drain, us, local)
        self.tcp_servers.append(srv)
        return us, srv

    async def sync_dynamic(self, wanted: list[Listen]) -> list[str]:
        """Open the wanted listeners not open yet and close the others; static ones stay.
        Returns one message per listener that could not be opened (retried on the next sync)."""
        errors = []
        self._flush_replies()  # before a listener closes: its socket's number may be reused
        for lst in [lst for lst in self.dynamic if lst not in wanted]:
            us, srv = self.dynamic.pop(lst)
            assert self.loop is not None
            self.loop.remove_reader(us.fileno())
            self.udp = [(s, h) for s, h in self.udp if s is not us]
            us.close()
            self.tcp_servers.remove(srv)
            srv.close()  # connections already accepted finish on their own
        for lst in wanted:
            if lst not in self.dynamic:
                try:
                    self.dynamic[lst] = await self._open(lst)
                except OSError as e:
                    errors.append(f"{lst}: {e.strerror or e}")
        return errors

    def addresses(self) -> list[tuple[str, int]]:
        return [(host, s.getsockname()[1]) for s, host in self.udp]

    async def close(self) -> None:
        self._flush_replies()
        for s, _host in self.udp:
            if self.loop is not None:
                self.loop.remove_reader(s.fileno())
            s.close()
        self.udp.clear()
        self.dynamic.clear()
        for srv in self.tcp_servers:
            srv.close()
        for c in list(self.tcp_clients):
            c.writer.close()
        for srv in self.tcp_servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(srv.wait_closed(), 2.0)
        self.tcp_servers.clear()

    async def drain_tasks(self, timeout: float) -> None:
        """Let queries in flight finish (graceful shutdown)."""
        await self.lane.drain(timeout)

    # ------------------------------------------------------------ UDP

    def _drain(self, sock: socket.socket, local: str) -> None:
        fast = self.engine.fast
        clients = fast.clients
        first_sight = self.engine.first_sight
        recv = sock.recvfrom
        send = sock.sendto
        # The query log's fast ring (core/querylog.py): three in-place stores per replay, no
        # allocation; the position is kept local for the batch and stored back at its end.
        ql = self.engine.qlog
        times, slots, infos, mask, pos = ql.times, ql.slots, ql.infos, ql.mask, ql.pos
        # One clock read per batch: a batch lasts a few milliseconds, far below TTL resolution.
        now = self.clock()
        try:
            for _ in range(BATCH):
                try:
                    data, addr = recv(4096)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:  # e.g. ICMP port unreachable reported on the socket
                    continue
                slot = clients.get(addr[0])
                if slot is not None and (slot.bucket is None or slot.bucket.take(now)):
                    key = data[2:]
                    table = slot.table
                    e = table.get(key)
                    allowed = None
                    if e is None:  # a first sight: answered from the bytes if blocked
                        try:  # Engine.first_sight, called here rather than through a method (a call less)
                            first = first_sight(slot, key, now)
                        except Exception as err:
                            self._first_failed(slot, err)
                            first = None
                        if isinstance(first, Pending):
                            allowed = first
                        else:
                            e = first
                    elif e[1] <= now:  # due for its TTLs to be counted down
                        e = restamp(e, now)
                        if e is not None:
                            table[key] = e
                    if e is not None:
                        try:
                            send(data[:2] + e[0], addr)
                        except OSError:
                            pass
                        info = e[3]  # described once at install (None: its profile logs nothing)
                        if info is not None:
                            j = pos & mask
                            times[j] = now
                            slots[j] = slot
                            infos[j] = info
                            pos += 1
                        continue
                    if allowed is not None:  # the cache or upstream, with the sender
                        self._execute(self._go_on(allowed, data[0] << 8 | data[1], (sock, addr), now))
                        continue
                    if slot.bucket is not None:
                        slot.bucket.tokens += 1.0  # the slow path takes this query's token itself
                self._execute(self._query(data, addr[0], (sock, addr), now, False, local))
        finally:
            ql.pos = pos

    def _drain_batched(self, sock: socket.socket, local: str, b: mmsg.Batch, replies: Replies) -> None:
        """The same hot loop as `_drain`, with one recvmmsg per batch of packets and one
        sendmmsg for the batch's fast-path answers (the syscalls were most of a replay's cost)."""
        clients = self.engine.fast.clients
        first_sight = self.engine.first_sight
        ips = self._ips
        ql = self.engine.qlog
        times, slots, infos, mask, pos = ql.times, ql.slots, ql.infos, ql.mask, ql.pos
        # Batch's buffers, read and written in place here rather than through its methods
        # (a call each per packet was a tenth of a replay's Python work; the methods say what
        # each offset is)
        inbuf, rlen, names, outbuf, siov, sq = b.inbuf, b.rlen, b.names, b.outbuf, b.siov, b.sq
        sent_to = b.sent_to
        name_addr, v6, namelen = b.name_addr, b.v6, b.namelen
        slot_len, name_len, out_len = mmsg.SLOT, mmsg.NAME, mmsg.OUT
        now = self.clock()
        total = 0
        try:
            while total < BATCH:
                n = b.recv()
                if n <= 0:
                    if n == 0:
                        return
                    total += 1  # an error reported on the socket (ICMP): read on, boundedly
                    continue
                total += n
                k = 0
                # The batch's lengths and senders read once, as a list and bytes: their items
                # are then a few instructions each to a compiled build (make native), where a
                # map's or a view's cost a generic call and a boxed int
                lens: list[int] = rlen[14 : n * 16 : 16].tolist()  # msg_len of each header
                nb: bytes = names[: n * name_len]
                try:
                    for i in range(n):
                        src, noff = i * slot_len, i * name_len
                        rk = nb[noff + 8 : noff + 28] if v6 else nb[noff + 4 : noff + 8]  # b.key(i)
                        ip = ips.get(rk)
                        if ip is None:
                            if len(ips) >= 65536:
                                ips.clear()
                            ip = ips[rk] = b.sender(i)[0]
                        slot = clients.get(ip)
                        if slot is not None and (slot.bucket is None or slot.bucket.take(now)):
                            size = lens[i]
                            data: bytes = inbuf[src : src + (size if size < slot_len else slot_len)]  # b.data(i)
                            key = data[2:]  # b.question(i)
                            table = slot.table
                            e = table.get(key)
                            allowed = None
                            if e is None:
                                try:  # as in _drain
                                    first = first_sight(slot, key, now)
                                except Exception as err:
                                    self._first_failed(slot, err)
                                    first = None
                                if isinstance(first, Pending):
                                    allowed = first
                                else:
                                    e = first
                            elif e[1] <= now:
                                e = restamp(e, now)
                                if e is not None:
                                    table[key] = e
                            if e is not None:
                                tail = e[0]
                                size = len(tail) + 2
                                if size <= out_len:  # b.reply(k, i, tail)
                                    out = k * out_len
                                    outbuf[out : out + size] = data[:2] + tail  # one write, not two
                                    siov[k * 2 + 1] = size
                                    if sent_to[k] != i:
                                        sq[k * 8] = name_addr + noff
                                        sent_to[k] = i
                                    k += 1
                                else:  # longer than a send slot: on its own
                                    with contextlib.suppress(OSError):
                                        sock.sendto(data[:2] + tail, b.sender(i))
                                info = e[3]
                                if info is not None:
                                    j = pos & mask
                                    times[j] = now
                                    slots[j] = slot
                                    infos[j] = info
                                    pos += 1
                                continue
                            # b.sender(i), b.name(i); an IPv4 sender's text is `ip` already
                            sender = b.sender(i) if v6 else (ip, nb[noff + 2] << 8 | nb[noff + 3])
                            to = (sock, sender, nb[noff : noff + namelen], replies)
                            if allowed is not None:  # the cache or upstream, with the sender
                                actions = self._go_on(allowed, data[0] << 8 | data[1], to, now)
                            else:
                                if slot.bucket is not None:
                                    slot.bucket.tokens += 1.0  # the slow path takes this query's token itself
                                actions = self._query(data, ip, to, now, False, local)
                        else:
                            to = (sock, b.sender(i), nb[noff : noff + namelen], replies)
                            actions = self._query(b.data(i), ip, to, now, False, local)
                        if len(actions) == 1:  # answered at once (blocked, cached, local): join the batch's send
                            a = actions[0]
                            if type(a) is Send and a.to is to and b.reply(k, i, a.wire[2:]):
                                k += 1
                                continue
                        self._execute(actions)
                finally:
                    if k:
                        b.flush(k)
        finally:
            ql.pos = pos

    def _first_failed(self, slot: Slot, e: Exception) -> None:
        """Engine.first_sight raised: a bug in it sends the query the full way, never stops the loop."""
        self.engine.log("internal", f"first sight from {slot.ip} failed: {e!r}")

    def _go_on(self, p: Pending, qid: int, to: object, now: float) -> list[Action]:
        try:
            return self.engine.go_on(p, qid, to, now)
        except Exception as e:
            self.engine.log("internal", f"query from {p.slot.ip} failed: {e!r}")
            return []

    def _query(self, data: bytes, ip: str, to: object, now: float, tcp: bool, local: str | None) -> list[Action]:
        """The engine's answer; a bug in it costs this one query, never the listener."""
        try:
            return self.engine.on_query(data, ip, to, now, tcp=tcp, local_addr=local)
        except Exception as e:  # the boundary: log (rate-limited) and carry on
            self.engine.log("internal", f"query from {ip} failed: {e!r}")
            return []

    # ------------------------------------------------------------ actions

    def _execute(self, actions: list[Action]) -> None:
        for a in actions:
            t = type(a)
            if t is Send:
                to = cast("Send", a).to
                if type(to) is tuple:
                    if len(to) == 4:  # read by the batched loop: queued for the next flush
                        self._reply(cast("tuple[socket.socket, Any, bytes, Replies]", to), cast("Send", a).wire)
                        continue
                    sock, addr = cast("tuple[socket.socket, Any]", to)  # a UDP reply: (socket, address)
                    try:
                        sock.sendto(cast("Send", a).wire, addr)
                    except OSError:
                        pass
                else:
                    cast("TcpClient", to).send(cast("Send", a).wire)
            elif t is Forward:
                f = cast("Forward", a)
                self.lane.submit(f.qname, f.qtype, f.qclass, f.do, f.cd, partial(self._upstream_done, f))
            elif t is SyncFeed and self.on_sync is not None:
                self.on_sync(cast("SyncFeed", a).feed)

    def _reply(self, to: tuple[socket.socket, Any, bytes, Replies], wire: bytes) -> None:
        """A UDP answer read by the batched loop, sent with the others at the next flush. `to`
        is (socket, address, raw sockaddr, the listener's Replies)."""
        r = to[3]
        if not r.k:  # its first since the last flush
            if not self._queued:
                cast("asyncio.AbstractEventLoop", self.loop).call_soon(self._flush_replies)
            self._queued.append(r)
        if not r.add(wire, to[2]):  # longer than a slot: on its own
            with contextlib.suppress(OSError):
                to[0].sendto(wire, to[1])

    def _flush_replies(self) -> None:
        queued, self._queued = self._queued, []
        for r in queued:
            r.flush()

    def _upstream_done(self, fwd: Forward, resp: bytes | None, err: str) -> None:
        """The upstream's answer for `fwd` (None: every upstream failed, `err` says how)."""
        try:
            actions = self.engine.on_upstream(fwd, resp, self.clock(), err)
        except Exception as e:  # never lose the listener
            self.engine.log("internal", f"upstream answer handling failed: {e!r}")
            return
        self._execute(actions)


__all__ = ["BATCH", "PEER_ERRORS", "DnsServer", "TcpClient", "tcp_socket", "udp_socket"]
