"""The daemon's household housekeeping, off the query path: the neighbour table and DHCP
leases (who a device is), the device store, the engine's clock tick (schedules, pauses,
midnight), and the pauses and budgets that must survive a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from dnsfilter.config import Config
from dnsfilter.core.engine import Engine

log = logging.getLogger("dnsfilter.household")

TICK = 1.0  # schedule boundaries and pause ends take effect within a second
FLUSH = 5.0  # device sightings reach the store every few seconds
SAVE = 60.0  # budgets are saved once a minute (and at stop): at most a minute of use is lost


class Household:
    def __init__(self, cfg: Config, engine_ref: Any) -> None:
        self.cfg = cfg
        self._engine_ref = engine_ref  # a callable: the engine is swapped on reload
        self.neighbours: Any = None
        self.leases: Any = None
        self.store: Any = None
        self.requests: Any = None  # storage/child_requests.RequestStore: children's requests, budget days
        self.tasks: list[asyncio.Task[None]] = []
        self.data = cfg.data_path()
        self.state = cfg.state_path()  # household.json: on flash on a router, written when it changes
        self._saved = ""
        self.querylog: Any = None  # shell/querylog_writer.QueryLogWriter, from start()

    @property
    def engine(self) -> Engine:
        return self._engine_ref()

    # ------------------------------------------------------------ lifecycle

    def start_neighbours(self, loop: asyncio.AbstractEventLoop) -> Any:
        """The neighbour table, started before the engine is built (Identify reads it)."""
        if not self.cfg.network.neighbours:
            return None
        try:
            from dnsfilter.shell.lan.neighbours import NeighbourTable

            nt = NeighbourTable()
            nt.start(loop)
        except Exception as e:  # no netlink (a container, a BSD): identify by address only
            log.warning("neighbour table unavailable, devices are matched by address only: %s", e)
            return None
        self.neighbours = nt
        return nt

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        from dnsfilter.shell.lan.leases_watch import LeaseWatch
        from dnsfilter.storage.family import family_db, runtime_db
        from dnsfilter.storage.store import DeviceStore

        if self.cfg.network.lease_files:
            self.leases = LeaseWatch(list(self.cfg.network.lease_files))
        try:
            self.data.mkdir(parents=True, exist_ok=True)
            self.store = DeviceStore(runtime_db(self.cfg), family=family_db(self.cfg))
        except Exception as e:
            log.warning("device store unavailable: %s", e)
        try:
            from dnsfilter.storage.child_requests import RequestStore

            self.requests = RequestStore(runtime_db(self.cfg), family=family_db(self.cfg))
        except Exception as e:
            log.warning("requests store unavailable: %s", e)
        self.engine.wall_offset = time.time() - time.monotonic()
        self.load_state()
        self.load_overrides()
        self.tasks = [loop.create_task(self._ticker()), loop.create_task(self._flusher())]
        from dnsfilter.shell.querylog_writer import QueryLogWriter

        self.querylog = QueryLogWriter(lambda: self.cfg, lambda: self.engine)
        self.querylog.start(loop)

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self.flush()
        self.save_state()
        if self.requests is not None:
            with contextlib.suppress(Exception):
                self.requests.record_budget_days(self.budget_rows(time.time()))
        if self.querylog is not None:
            await self.querylog.stop()
        if self.neighbours is not None:
            with contextlib.suppress(Exception):
                self.neighbours.stop()
        for st in (self.store, self.requests):
            if st is not None:
                with contextlib.suppress(Exception):
                    st.close()

    # ------------------------------------------------------------ loops

    async def _ticker(self) -> None:
        last_save = time.time()
        spent = 0
        while True:
            await asyncio.sleep(TICK)
            now = time.time()
            try:
                # The engine runs on the monotonic clock; its time rules on the wall clock,
                # re-read every tick so that an NTP correction (routers boot in 1970) is followed.
                self.engine.wall_offset = now - time.monotonic()
                self.engine.tick(time.monotonic())
                if self.engine.budgets_spent != spent:  # a budget ran out: `check` must see it
                    spent, last_save = self.engine.budgets_spent, 0.0
                if self.leases is not None:
                    await asyncio.to_thread(self.leases.poll)  # a re-read must not stall the DNS loop
                if now - last_save >= SAVE:
                    last_save = now
                    self.save_state()
                    if self.requests is not None:
                        await asyncio.to_thread(self.requests.record_budget_days, self.budget_rows(now))
                    if self.store is not None:  # ended overrides left the engine at their end
                        await asyncio.to_thread(self.store.prune_overrides, now)
            except Exception:  # the boundary: housekeeping must not stop
                log.exception("household tick failed")

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH)
            try:
                seen = self.engine.drain_seen()  # on the loop: the engine is not thread-safe
                await asyncio.to_thread(self._write, seen)  # SQLite off the loop
            except Exception:
                log.exception("writing device sightings failed")

    def flush(self) -> None:
        self._write(self.engine.drain_seen())

    def _write(self, seen: list[Any]) -> None:
        from dnsfilter.core.household.macaddr import is_random, vendor

        if not seen or self.store is None:
            return
        obs = []
        for s in seen:
            for ip, last in sorted(s.ips.items(), key=lambda kv: kv[1]):  # the latest address last
                host = self.leases.hostname_of(mac=s.mac, ip=ip) if self.leases is not None else None
                obs.append({"device": s.device, "mac": s.mac, "ip": ip, "profile": s.profile, "seen": last,
                            "hostname": host, "vendor": vendor(s.mac) if s.mac else None,
                            "random": is_random(s.mac) if s.mac else False})
        self.store.observe_many(obs)

    # ------------------------------------------------------------ pauses and budgets

    def _state_path(self) -> Path:
        return self.state / "household.json"

    def _state_text(self) -> str | None:
        t = self.engine.time
        if t is None:
            return None
        state = {"version": 1, "pauses": t.pauses.to_dict(),
                 "budgets": {name: pt.budgets.to_dict() for name, pt in t.profiles.items() if pt.budgets is not None}}
        return json.dumps(state)

    def save_state(self) -> None:
        text = self._state_text()
        if text is None:
            return
        if text == self._saved:
            return  # unchanged (no budget counting, no pause): no write, which flash would pay for
        path = self._state_path()
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text)
            os.replace(tmp, path)
            self._saved = text
        except OSError as e:
            log.warning("cannot save pauses and budgets to %s: %s", path, e)

    def budget_rows(self, now: float) -> list[tuple[str, str, str, str, int, int]]:
        """Today's minutes per device and budget, as budget_days rows for the weekly report (the
        engine keeps today's only). On the loop: the budgets change there."""
        t = self.engine.time
        if t is None:
            return []
        import datetime as dt

        day = dt.datetime.fromtimestamp(now, t.tz).date().isoformat()
        rows = []
        for name, pt in list(t.profiles.items()):
            b = pt.budgets
            if not b:
                continue
            limit_today = getattr(b, "limit_today", None)  # extensions, where budgets keep them
            for device in b.devices():
                for item, limit in list(b.limits.items()):
                    used = b.used(device, item, now)
                    if used:
                        rows.append((day, device, name, item, used,
                                     limit_today(device, item, now) if limit_today else limit))
        return rows

    def load_state(self) -> None:
        t = self.engine.time
        path = self._state_path()
        if t is None or not path.exists():
            return
        from dnsfilter.core.household.schedule import Pauses

        try:
            state = json.loads(path.read_text())
            if not isinstance(state, dict) or state.get("version") != 1:
                raise ValueError("unknown state version")
            pauses = Pauses.from_dict(state.get("pauses", {}))
            budgets = state.get("budgets", {})
            for name, pt in t.profiles.items():
                if pt.budgets is not None and name in budgets:
                    pt.budgets.load_usage(budgets[name])
            t.pauses = pauses
            self._saved = self._state_text() or ""  # as loaded: the next save writes only a change
        except (OSError, ValueError, TypeError, KeyError) as e:
            log.warning("%s unreadable (%s): starting with no pauses and fresh budgets", path, e)
        self.engine.forget_all()

    def load_overrides(self) -> int:
        """The expiring allows/blocks from the runtime store into the engine (at start, and on
        `ctl overrides` after the web UI wrote one); the answers built under the old set go.
        Without a store (`dnsfilter check`) the file is opened for this read alone."""
        from dnsfilter.core.policy.overrides import Overrides
        from dnsfilter.storage.family import family_db, runtime_db
        from dnsfilter.storage.store import DeviceStore, StoreError

        t = self.engine.time
        if t is None:
            return 0
        store, own = self.store, False
        path = runtime_db(self.cfg)
        if store is None and (path.exists() or family_db(self.cfg).exists()):
            try:
                store, own = DeviceStore(path, family=family_db(self.cfg)), True
            except (StoreError, OSError) as e:
                log.warning("overrides unavailable: %s", e)
        if store is None:
            return 0
        try:
            t.overrides = Overrides(store.overrides(time.time()))
        finally:
            if own:
                store.close()
        self.engine.overrides_changed()
        return len(t.overrides)

    def pause(self, target: str, minutes: float) -> tuple[bool, str]:
        t = self.engine.time
        if t is None:
            return False, "time rules are off"
        normal = self._normal_target(target)
        if normal is None:
            return False, "unknown target (profile:NAME, device:MAC or device:IP)"
        until = time.time() + minutes * 60
        t.pauses.pause(normal, until)
        self.engine.forget_all()
        self.save_state()
        return True, f"{normal} paused for {minutes:g} minutes"

    def resume(self, target: str) -> tuple[bool, str]:
        t = self.engine.time
        if t is None:
            return False, "time rules are off"
        normal = self._normal_target(target)
        if normal is None:
            return False, "unknown target (profile:NAME, device:MAC or device:IP)"
        t.pauses.resume(normal)
        self.engine.forget_all()
        self.save_state()
        return True, f"{target} resumed"

    def _normal_target(self, target: str) -> str | None:
        """`profile:NAME`, or `device:` with a MAC (any notation) or an address (devices
        without a known MAC are counted by address), in the form the engine uses."""
        kind, _, name = target.partition(":")
        if kind == "profile":
            return target if name in self.engine.policy.profiles else None
        if kind != "device":
            return None
        import ipaddress

        from dnsfilter.core.household.macaddr import normalise_mac

        try:
            return f"device:{normalise_mac(name)}"
        except ValueError:
            pass
        try:
            return f"device:{ipaddress.ip_address(name)}"
        except ValueError:
            return None

    def budget(self, profile: str, device: str, item: str, change: str) -> tuple[bool, str]:
        """`+MINUTES` (more for today) or `reset` (start from zero) of one device's budget."""
        t = self.engine.time
        pt = t.profiles.get(profile) if t is not None else None
        if pt is None or pt.budgets is None:
            return False, f"profile {profile!r} has no daily limits"
        normal = self._normal_target(f"device:{device}")
        if normal is None:
            return False, "unknown device (a MAC or an address)"
        device = normal.partition(":")[2]
        now = time.time()
        try:
            if change == "reset":
                pt.budgets.reset(device, item, now)
            elif change.startswith("+") and change[1:].isdigit():
                pt.budgets.extend(device, item, int(change[1:]), now)
            else:
                return False, "change must be +MINUTES or reset"
        except ValueError as e:
            return False, str(e)
        self.engine.forget_device(device)  # a spent budget may be open again: its state is rebuilt
        self.save_state()
        return True, f"{item} for {device}: {change}"

    def devices(self) -> list[dict[str, Any]]:
        return list(self.store.list_devices()) if self.store is not None else []

    def usage(self) -> dict[str, Any]:
        """Today's budget use: {profile: {"limits", "reset_at", "devices": {device: {item:
        {"used", "limit"}}}}} for every profile with budgets (the web UI's Profiles page)."""
        t = self.engine.time
        if t is None:
            return {}
        now = time.time()  # budgets count on the wall clock, as `record` is given it
        out: dict[str, Any] = {}
        for name, pt in t.profiles.items():
            b = pt.budgets
            if not b:
                continue
            devices = {}
            for device in b.devices():
                items = {item: {"used": b.used(device, item, now), "limit": b.limit_today(device, item, now),
                                "extra": b.extra(device, item, now)} for item in b.limits}
                if any(v["used"] or v["extra"] for v in items.values()):  # yesterday's devices are not shown
                    devices[device] = items
            out[name] = {"limits": dict(b.limits), "reset_at": b.reset_at(now), "devices": devices}
        return out
