"""`dnsfilter serve`: wire config, lists, engine, listeners, upstreams, signals and the
control socket together, and reload or stop without dropping a query."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dnsfilter import config as config_mod
from dnsfilter import native
from dnsfilter.assemble import build_engine, reconfigure
from dnsfilter.config import Config, ConfigError, Listen
from dnsfilter.core.engine import Engine
from dnsfilter.core.policy.matcher import Matcher
from dnsfilter.shell import pauses, worker_stats
from dnsfilter.shell.authority import AuthorityTasks
from dnsfilter.shell.childside import ChildSide
from dnsfilter.shell.household import Household
from dnsfilter.shell.lan.interfaces import LanWatcher
from dnsfilter.shell.lists import load_matcher
from dnsfilter.shell.logs import RateLimitedLog
from dnsfilter.shell.server import PEER_ERRORS, DnsServer
from dnsfilter.shell.upstream.pool import UpstreamPool
from feeds.files import file_error

if TYPE_CHECKING:
    from dnsfilter.router.doh_refresh import Refresher

log = logging.getLogger("dnsfilter")
T = TypeVar("T")


class Daemon:
    def __init__(self, cfg: Config, *, reuseport: bool = False, worker: int | None = None) -> None:
        self.cfg = cfg
        self.worker = worker  # None: the only process; otherwise the index under a supervisor
        self.reuseport = reuseport
        self.events = RateLimitedLog(log)
        self.matcher: Matcher = Matcher({})
        self.engine: Engine | None = None
        self.server: DnsServer | None = None
        self.pool: UpstreamPool | None = None
        self.stopping = asyncio.Event()
        self.reloading: asyncio.Lock | None = None
        self.control: asyncio.Server | None = None
        self.started = time.time()
        self.reloads = 0
        self.sync_task: asyncio.Task[None] | None = None
        self.doh: Refresher | None = None  # worker 0 (or the only process) refreshes the DoH sets
        self.gc_task: asyncio.Task[None] | None = None
        self.household: Household | None = None
        self.lan: LanWatcher | None = None
        # worker 0 (or the only process): the audit of list versions in force, the provider bundle
        self.authority = AuthorityTasks(lambda: self.cfg, self.stopping, self._reload_after_sync) \
            if worker in (None, 0) else None
        self._hup_task: asyncio.Task[tuple[bool, str]] | None = None
        self.urgent: set[str] = set()  # feeds whose primary sent a NOTIFY: synced at once
        self.wake = asyncio.Event()  # the sync loop's: a NOTIFY came, or a reload (which may add feeds)
        self.child: ChildSide | None = None  # the portal, notifications, the weekly report, the block page

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_error)
        self.reloading = asyncio.Lock()
        self.matcher = await asyncio.to_thread(load_matcher, self.cfg)
        self.household = Household(self.cfg, lambda: self.engine)
        neighbours = self.household.start_neighbours(loop)
        self.engine = build_engine(self.cfg, self.matcher, self.events, neighbours)
        self._arm_notify(self.cfg)
        if log.isEnabledFor(logging.DEBUG):
            self.engine.trace = logging.getLogger("dnsfilter.decisions").debug
        self.household.start(loop)
        self.pool = self._pool(self.cfg)
        self.server = DnsServer(self.engine, self.pool, tcp_idle=self.cfg.dns.tcp_idle_timeout,
                                tcp_max=self.cfg.dns.tcp_max_connections, batch_io=self.cfg.dns.batch_io)
        self.server.on_sync = self.notify_feed
        try:
            await self.server.start([lst for lst in self.cfg.dns.listen if not lst.interface], self.reuseport)
            interfaces = tuple(lst for lst in self.cfg.dns.listen if lst.interface)
            if interfaces:  # listen = ["lan"]: bind the LAN addresses and follow their changes
                self.lan = LanWatcher(interfaces, self._bind_lan)
                await self.lan.start()
        except OSError as e:
            log.error("cannot listen: %s", e)
            await self.server.close()
            await self.pool.close()
            await self.household.stop()
            return 1
        for sig, handler in ((signal.SIGHUP, self._on_hup), (signal.SIGTERM, self.stopping.set),
                             (signal.SIGINT, self.stopping.set)):
            loop.add_signal_handler(sig, handler)
        await self._start_control()
        self.child = ChildSide(lambda: self.cfg, self._engine, self.household, lambda: self.server,
                               self.worker in (None, 0))
        await self.child.start(loop)
        if self.authority is not None:
            await self.authority.after_swap(self.cfg, self.matcher, "start")
            self.authority.start(loop)
        if self.worker in (None, 0):  # one process downloads; the others map what it compiles
            self.sync_task = loop.create_task(self._periodic_sync())
            if self.cfg.firewall.doh_feed:
                self._doh().start(self.cfg)
        pauses.settle()
        self.gc_task = loop.create_task(pauses.full_collections(self._answered))
        addrs = ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.server.addresses())
        names = sum(len(s) for s in self.matcher.sets.values())
        from dnsfilter.shell.webproc import url

        web = f"; web UI: {url(self.cfg)}" if self.cfg.web is not None and self.worker in (None, 0) else ""
        log.info("ready: answering on %s (UDP and TCP); %d feed(s), %d names; upstreams: %s%s", addrs,
                 len(self.matcher.sets), names, ", ".join(u.text for u in self.cfg.dns.upstreams), web)
        log.info("query path: %s", native.describe())
        await self.stopping.wait()
        log.info("stopping: finishing queries in flight")
        if self.sync_task is not None:
            self.sync_task.cancel()
        if self.authority is not None:
            self.authority.stop()
        if self.doh is not None:
            self.doh.stop()
        if self.gc_task is not None:
            self.gc_task.cancel()
        if self.control is not None:
            self.control.close()
        if self.child is not None:
            await self.child.stop()
        if self.lan is not None:
            await self.lan.stop()
        await self.server.close()
        await self.server.drain_tasks(2.0)
        await self.household.stop()
        await self.pool.close()
        with contextlib.suppress(OSError):
            self._control_path().unlink()
        log.info("stopped")
        return 0

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """What asyncio would log with a traceback (a callback or task that raised): one line,
        rate-limited, so that no peer can fill the log. Peers' doings (resets, half-closed or
        stalled connections) are routine; anything else is a bug, named with where it was raised."""
        exc = context.get("exception")
        what = context.get("message") or "error in the event loop"
        if isinstance(exc, PEER_ERRORS):
            self.events("peer", f"{what}: {exc!r}")
            return
        where = ""
        tb = exc.__traceback__ if isinstance(exc, BaseException) else None
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None:
            where = f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"
        self.events("internal", f"{what}: {exc!r}{where}")

    async def _bind_lan(self, wanted: list[Listen]) -> None:
        assert self.server is not None
        before = set(self.server.dynamic)
        errors = await self.server.sync_dynamic(wanted)
        for lst in sorted(set(self.server.dynamic) - before, key=str):
            log.info("listening on %s (LAN address)", lst)
        for lst in sorted(before - set(self.server.dynamic), key=str):
            log.info("no longer listening on %s (address gone)", lst)
        for err in errors:
            log.warning("cannot listen on %s (retried on the next address change)", err)
        if not self.server.udp:
            log.warning("no address to answer on yet: waiting for a LAN address")
        if self.child is not None:
            await self.child.update_block_page()

    def _engine(self) -> Engine:
        assert self.engine is not None  # built before anything that asks for it starts
        return self.engine

    def _answered(self) -> int:
        """Queries answered so far, near enough for `pauses` to tell a quiet moment: slow-path
        outcomes plus logged fast-path replays (replays of unlogged profiles are not counted)."""
        e = self.engine
        return 0 if e is None else e.qlog.pos + e.stats.outcomes.total()

    def _pool(self, cfg: Config) -> UpstreamPool:
        d = cfg.dns
        for warning in config_mod.upstream_warnings(d.upstreams):
            log.warning("%s", warning)
        return UpstreamPool(list(d.upstreams), timeout=d.upstream_timeout, tls_ca_file=d.tls_ca_file or None,
                            max_inflight=d.max_inflight, bootstrap=d.bootstrap, policy=d.upstream_policy,
                            batch_io=d.batch_io)

    def _on_hup(self) -> None:
        # reload() logs its own outcome, success or failure, in one line; nothing is left for
        # a done callback but a cancellation at stop
        self._hup_task = asyncio.get_running_loop().create_task(self.reload())

    async def reload(self) -> tuple[bool, str]:
        """Re-read config and lists, then swap them in at once. Any failure (an invalid config, a
        list that cannot be read, a bug) keeps the running config and lists, and is logged in
        one line with its reason, which is also returned (`ctl reload` prints it)."""
        assert self.reloading is not None and self.engine is not None and self.server is not None
        async with self.reloading:
            try:
                return await self._reload_locked()
            except ConfigError as e:
                msg = f"reload rejected, keeping the running config: {e}"
            except OSError as e:
                msg = f"reload failed, keeping the running config: {file_error(e)}"
            except Exception as e:  # a bug must not leave the reload silent, nor stop the daemon
                log.debug("reload failed", exc_info=True)
                msg = f"reload failed, keeping the running config: {type(e).__name__}: {e}"
            log.error("%s", msg)
            return False, msg

    async def _reload_locked(self) -> tuple[bool, str]:
        assert self.engine is not None and self.server is not None
        new = config_mod.load(self.cfg.path)
        notes = []
        if new.dns.listen != self.cfg.dns.listen:
            notes.append("listen addresses change on restart")
            new = _with_listen(new, self.cfg)
        matcher = await asyncio.to_thread(load_matcher, new, self.matcher)
        # everything above may fail and has changed nothing; the new parts are built before any
        # is swapped in, so a failure here too leaves the running ones
        pool = None
        if _upstream_keys(new) != _upstream_keys(self.cfg):
            pool = self._pool(new)
        reconfigure(self.engine, new, matcher)
        if self.household is not None:
            self.household.load_overrides()  # a worker learns of new ones this way
        self._arm_notify(new)
        if pool is not None:
            old_pool, self.pool = self.pool, pool
            self.server.pool = pool
            if old_pool is not None:  # queries already sent on it finish there
                asyncio.get_running_loop().call_later(new.dns.upstream_timeout * 4, _close_later, old_pool)
        old, self.cfg, self.matcher = self.cfg, new, matcher
        if self.authority is not None:  # after the swap: the moment answering with them began
            await self.authority.after_swap(new, matcher, "reload")
        if self.household is not None:
            self.household.cfg = new
        if self.child is not None:
            await self.child.update_block_page()
        pauses.settle()
        self.wake.set()  # a feed a reload added (a parent's new category) syncs at once
        self.reloads += 1
        msg = "reloaded" + (f" ({'; '.join(notes)})" if notes else "")
        log.info("%s: %d feed(s), %d names", msg, len(matcher.sets), sum(len(s) for s in matcher.sets.values()))
        if self.worker in (None, 0) and (self.doh is not None or new.firewall.doh_feed):
            try:
                await self._doh().reconfigure(old, new)  # doh_feed added, changed or removed
            except Exception as e:  # the reload itself is done: say what did not follow it
                log.error("reloaded, but the DoH feed refresher did not follow: %s", e)
                return True, f"{msg}; the DoH feed refresher did not follow: {e}"
        return True, msg

    def _doh(self) -> Refresher:
        """The DoH feed refresher, made the first time a config names a feed (its module, nft
        and fetch code are not loaded otherwise)."""
        if self.doh is None:
            from dnsfilter.router.doh_refresh import Refresher

            self.doh = Refresher(lambda: self.cfg, self.stopping, _in_thread)
        return self.doh

    # ------------------------------------------------------------ NOTIFY

    def _arm_notify(self, cfg: Config) -> None:
        """The TSIG keys of the signed xfr:// feeds, for the engine's NOTIFY decisions."""
        assert self.engine is not None
        if self.engine.notify.zones:
            from dnsfilter.shell.notify_tsig import TsigVerifier

            self.engine.notify.verifier = TsigVerifier.from_config(cfg)

    def notify_feed(self, name: str) -> None:
        """A NOTIFY for `name` was accepted: sync it now (syncs already due run first; repeats
        while it runs make one more sync). A worker other than 0 hands it to worker 0."""
        if self.worker not in (None, 0):
            asyncio.get_running_loop().create_task(self._tell_worker0(f"notify {name}"))
            return
        log.info("feed %s: NOTIFY from its primary: syncing now", name)
        self.urgent.add(name)
        self.wake.set()

    async def _tell_worker0(self, line: str) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.cfg.data_path() / "control.sock")), 5.0)
            writer.write(line.encode() + b"\n")
            await asyncio.wait_for(reader.readline(), 5.0)
            writer.close()
        except (OSError, TimeoutError) as e:
            log.warning("cannot pass a NOTIFY on to worker 0: %s", e)

    # ------------------------------------------------------------ periodic feed sync

    async def _periodic_sync(self) -> None:
        """Sync due feeds (per-feed interval, ±10 % jitter; never-synced remote feeds shortly
        after start) in a child process each (shell/feedsync.py), then swap the new sets in
        through the reload path. Errors are logged and recorded in the feed status, never
        raised into the loop."""
        from dnsfilter.shell.feedsync import sync_in_child
        from feeds.schedule import due_feeds

        while not self.stopping.is_set():
            cfg = self.cfg  # a reload may replace it meanwhile: each round uses one config
            due, wake = due_feeds(cfg, time.time(), self.started)
            self.wake.clear()
            urgent, self.urgent = self.urgent, set()
            due += [f for f in cfg.feeds if f.name in urgent and f.enabled and f not in due]
            changed = crashed = False
            for feed in due:
                try:
                    st = await sync_in_child(cfg, feed)
                    changed = changed or st.result == "new"
                except Exception:  # a bug in one feed's sync must not stop the others, nor the loop
                    log.exception("feed %s: sync failed", feed.name)
                    crashed = True
            if changed:
                await self._reload_after_sync()
            # after a sync, recompute what is due from the clock (a sync may take long); a sync
            # that crashed recorded nothing, so it would stay due: pause rather than spin
            delay = 60.0 if crashed else 0.0 if due else min(max(wake - time.time(), 0.2), 60.0)
            if self.urgent:
                delay = 0.0
            await _first(delay, self.stopping, self.wake)

    async def _reload_after_sync(self) -> None:
        if self.worker is not None:
            os.kill(os.getppid(), signal.SIGHUP)  # the supervisor reloads every worker, as for `ctl reload`
            return
        try:
            await self.reload()
        except Exception:
            log.exception("reload after a feed sync failed; the previous sets stay in force")

    def status(self) -> dict[str, object]:
        assert self.engine is not None and self.pool is not None
        e = self.engine
        return {
            "uptime": round(time.time() - self.started, 1),
            "reloads": self.reloads,
            "outcomes": dict(e.stats.outcomes),
            "dropped": e.stats.dropped,
            "ratelimited": e.stats.ratelimited,
            "prefetches": e.stats.prefetches,
            "cache": {"entries": len(e.cache), "hits": e.cache.hits, "misses": e.cache.misses},
            "fastpath": {"entries": e.fast.entries, "clients": len(e.fast.clients)},
            "inflight": len(e.upstream),
            "scrubbed": e.stats.scrubbed,
            "tcp": self.server.tcp_status() if self.server is not None else {},
            "notify": dict(e.stats.notify),
            "feeds": {name: len(s) for name, s in self.matcher.sets.items()},
            "upstreams": self.pool.status(),
            **(self.child.status() if self.child is not None else {}),
        }

    def own_status(self) -> dict[str, object]:
        """`status` with the query log's counts: this process's counters."""
        st = self.status()
        ql = self.household.querylog if self.household is not None else None
        st.update(answers=dict(ql.answers) if ql is not None else {},
                  querylog={"written": ql.written, "lost": ql.lost, "shed": ql.shed} if ql is not None else {})
        return st

    async def appliance_status(self) -> dict[str, object]:
        """The counters of the appliance: this process's, or under workers every worker's summed
        (worker 0 asks the others: shell/worker_stats.py)."""
        if self.worker is None:
            return self.own_status()
        others = await worker_stats.gather(self.cfg.data_path(), worker_stats.worker_count(self.cfg.dns.workers))
        return worker_stats.merge(self.own_status(), others)

    async def metrics(self) -> str:
        """The appliance's status with feed ages and workers, as Prometheus text."""
        from dnsfilter.core.metrics import metrics_text
        from feeds.files import read_status, set_path

        st = await self.appliance_status()
        now = time.time()
        ages = {}
        for feed in self.cfg.feeds:
            with contextlib.suppress(OSError):
                ages[feed.name] = round(now - set_path(self.cfg, feed).stat().st_mtime, 1)
        xfr = {}
        for feed in self.cfg.feeds:
            if feed.xfr is not None:
                fs = read_status(self.cfg, feed)
                xfr[feed.name] = {"serial": fs.zone_serial, "stale": fs.stale(now)}
        st.update(feed_ages=ages, feed_xfr=xfr, workers=worker_stats.worker_count(self.cfg.dns.workers))
        extra = self.authority.metrics_text(self.cfg, self.matcher) if self.authority is not None else ""
        return metrics_text(st) + worker_stats.reporting_text(st) + extra

    # ------------------------------------------------------------ control socket

    def _control_path(self) -> Path:
        """The appliance's control socket (worker 0's); the other workers' answer worker 0 only."""
        if self.worker not in (None, 0):
            return worker_stats.socket_path(self.cfg.data_path(), self.worker)
        return self.cfg.data_path() / "control.sock"

    async def _start_control(self) -> None:
        path = self._control_path()
        handler = self._control_conn if self.worker in (None, 0) else self._peer_conn
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self.control = await asyncio.start_unix_server(handler, path=str(path))
            os.chmod(path, 0o600)  # only the appliance's own user may reload it
        except OSError as e:
            log.warning("control socket %s unavailable: %s", path, e)

    async def _control_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _answer_line(reader, writer, self._control_reply)

    async def _control_reply(self, line: str) -> dict[str, object]:
        if line == "reload":
            if self.worker is not None:
                os.kill(os.getppid(), signal.SIGHUP)  # the supervisor reloads every worker
                return {"ok": True, "message": "reload signalled to all workers"}
            ok, msg = await self.reload()
            return {"ok": ok, "message": msg}
        if line == "status":
            return {"ok": True, "status": await self.appliance_status()}
        if line == "metrics":
            return {"ok": True, "metrics": await self.metrics()}
        if line == "ping":
            return {"ok": True, "message": "pong"}
        if line.startswith("notify ") and any(f.name == line[7:] and f.xfr for f in self.cfg.feeds):
            self.notify_feed(line[7:])  # from another worker, which accepted the NOTIFY
            return {"ok": True, "message": "syncing"}
        if line == "report" and self.child is not None:
            return await self.child.command(line)
        if line.split(" ", 1)[0] in ("pause", "resume", "devices", "usage", "overrides", "budget") \
                and self.household is not None:
            return self._household_command(line)
        return {"ok": False, "message": f"unknown command {line[:40]!r} (reload, status, metrics, ping, pause, "
                                        "resume, devices, usage, overrides, budget, report)"}

    async def _peer_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A worker's own socket: its counters for worker 0 (`status-self`), nothing else."""

        async def reply(line: str) -> dict[str, object]:
            return ({"ok": True, "status": self.own_status()} if line == "status-self" else
                    {"ok": False, "message": "a worker's socket answers status-self; use control.sock"})

        await _answer_line(reader, writer, reply)

    def _household_command(self, line: str) -> dict[str, object]:
        """`pause TARGET MINUTES`, `resume TARGET`, `devices`, `usage` (TARGET: profile:NAME or
        device:ID)."""
        assert self.household is not None
        parts = line.split()
        if parts[0] == "devices" and len(parts) == 1:
            return {"ok": True, "devices": self.household.devices()}
        if parts[0] == "usage" and len(parts) == 1:
            return {"ok": True, "usage": self.household.usage()}
        if parts[0] == "overrides" and len(parts) == 1:  # the store's overrides changed: apply them now
            if self.worker is not None:
                os.kill(os.getppid(), signal.SIGHUP)  # every worker reloads, overrides included
                return {"ok": True, "message": "reload signalled to all workers"}
            n = self.household.load_overrides()
            return {"ok": True, "message": f"{n} override(s) in force"}
        if parts[0] == "pause" and len(parts) == 3:
            try:
                minutes = float(parts[2])
            except ValueError:
                minutes = -1.0
            if not 0 < minutes <= 24 * 60:
                return {"ok": False, "message": "minutes must be a number between 0 and 1440"}
            ok, msg = self.household.pause(parts[1], minutes)
            return {"ok": ok, "message": msg}
        if parts[0] == "resume" and len(parts) == 2:
            ok, msg = self.household.resume(parts[1])
            return {"ok": ok, "message": msg}
        if parts[0] == "budget" and len(parts) == 5:  # budget PROFILE DEVICE ITEM +MINUTES|reset
            ok, msg = self.household.budget(parts[1], parts[2], parts[3], parts[4])
            return {"ok": ok, "message": msg}
        return {"ok": False, "message": "usage: pause TARGET MINUTES | resume TARGET | devices | usage | overrides"
                                        " | budget PROFILE DEVICE ITEM +MINUTES|reset"}


async def _first(timeout: float, *events: asyncio.Event) -> None:
    """Wait until one of `events` is set, or `timeout` seconds."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` in a daemon thread. Not asyncio.to_thread: its executor threads are joined at
    exit, so a stop during a long download would wait for it (up to the fetch deadline). A sync
    cut short by exit is harmless: every file it writes is renamed into place only when complete."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = fn(*args), None
        except BaseException as e:  # handed to the awaiting task
            result, error = None, e
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="feed-sync", daemon=True).start()
    return await fut


async def _answer_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       reply: Callable[[str], Awaitable[dict[str, object]]]) -> None:
    """One command line in, one JSON line out (the control and worker sockets)."""
    try:
        line = (await asyncio.wait_for(reader.readline(), 5.0)).decode("utf-8", "replace").strip()
        try:
            answer = await reply(line)
        except Exception as e:  # a command's bug: the client hears why, the daemon goes on
            log.error("control command %r failed: %s: %s", line[:40], type(e).__name__, e)
            answer = {"ok": False, "message": f"{line[:40]!r} failed: {type(e).__name__}: {e}"}
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()
    except (*PEER_ERRORS, ValueError):  # ValueError: a line longer than the stream's limit
        pass
    finally:
        writer.close()


def _with_listen(new: Config, old: Config) -> Config:
    from dataclasses import replace

    return replace(new, dns=replace(new.dns, listen=old.dns.listen))


def _upstream_keys(cfg: Config) -> tuple[object, ...]:
    """What the upstream pool is made of: a reload that changes any of it makes a new pool."""
    d = cfg.dns
    ca_changed = 0.0
    if d.tls_ca_file:
        with contextlib.suppress(OSError):
            ca_changed = os.stat(d.tls_ca_file).st_mtime  # a renewed CA file under the same name counts
    return d.upstreams, d.upstream_timeout, d.bootstrap, d.upstream_policy, d.tls_ca_file, ca_changed, d.max_inflight


def _close_later(pool: UpstreamPool) -> None:
    asyncio.get_running_loop().create_task(pool.close())
