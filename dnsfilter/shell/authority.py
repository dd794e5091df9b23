"""The daemon's side of authority lists and managed routers:

- after every swap of lists or config (start, reload, periodic sync) it records in the audit log
  which authority list versions it now answers with (`effective`), which it stopped answering
  with (`withdrawn`), and which provider bundle the config in force was merged under
  (`bundle_effective`): written after the swap, so the time is when answering began;
- it syncs the provider's bundle in a child process every `[provider] interval` and reloads when
  a new one was accepted;
- it runs the self-test in a child process every `[authority] selftest_interval` and soon after
  a new authority list version takes effect (so the entries it added are probed);
- it adds the authority and provider figures to the metrics.

The audit writes fsync, so they run in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dnsfilter.config import Config
from dnsfilter.core.model import list_version
from dnsfilter.core.policy.matcher import Matcher

log = logging.getLogger("dnsfilter.authority")

FIRST_CHECK = 2.0  # a managed router without a bundle yet asks shortly after start
RETRY_AFTER_FAILURE = 900.0
SELFTEST_AFTER_CHANGE = 30.0  # seconds after a new version takes effect (the cache settles first)
STATE = "in_force.json"


class AuthorityTasks:
    def __init__(self, config: Callable[[], Config], stopping: asyncio.Event,
                 reload: Callable[[], Awaitable[object]]) -> None:
        self.config, self.stopping, self.reload = config, stopping, reload
        self.started = time.time()
        self.tasks: list[asyncio.Task[None]] = []
        self.changed = asyncio.Event()  # a new authority version took effect: a self-test is due soon

    # ------------------------------------------------------------ after a swap

    async def after_swap(self, cfg: Config, matcher: Matcher, why: str) -> None:
        try:
            await asyncio.to_thread(self._record, cfg, matcher, why)
        except Exception:  # the audit must never take the resolver down; the log says so loudly
            log.exception("cannot write the audit log after a %s", why)

    def _record(self, cfg: Config, matcher: Matcher, why: str) -> None:
        from dnsfilter.authority import audit
        from dnsfilter.authority.bundle import effective as bundle_effective
        from feeds.files import read_status

        path = cfg.audit_path()
        state_file = cfg.data_path() / "authority" / STATE
        try:
            before = json.loads(state_file.read_text())
        except (OSError, ValueError):
            before = {}
        lists: dict[str, str] = before.get("lists", {}) if isinstance(before.get("lists"), dict) else {}
        now: dict[str, str] = {}
        for feed in cfg.feeds:
            fs = matcher.sets.get(feed.name)
            if not feed.enabled or feed.category != "authority" or fs is None:
                continue
            version = now[feed.name] = list_version(fs.digest)
            new = lists.get(feed.name) != version
            if why == "start" or new:
                st = read_status(cfg, feed)
                # the lag is the new version's: a restart answering with the same version has none
                lag = round(time.time() - st.last_change, 3) if new and st.last_change else None
                audit.append(path, "effective", feed=feed.name, version=version, serial=st.serial, entries=len(fs),
                             networks=len(fs.nets) if fs.nets is not None else 0, reason=why,
                             fetched_at=st.last_change or None, lag_seconds=lag)
                if new:
                    self.changed.set()
        for name, version in lists.items():
            if name not in now:
                audit.append(path, "withdrawn", feed=name, version=version, reason=why)
        serial = cfg.managed.serial
        if serial and (why == "start" or before.get("bundle_serial") != serial):
            bundle_effective(path, serial, cfg.managed.locked, cfg.managed.refused)
        refused = sorted(k for k, _why in cfg.managed.refused)
        if why == "start" or refused != before.get("refused"):
            for key, reason in cfg.managed.refused:
                log.warning("%s: %s", key, reason)
        state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = state_file.with_name(STATE + ".tmp")
        tmp.write_text(json.dumps({"lists": now, "bundle_serial": serial, "refused": refused}))
        tmp.replace(state_file)

    # ------------------------------------------------------------ periodic work

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.tasks = [loop.create_task(self._provider_loop()), loop.create_task(self._selftest_loop())]

    def stop(self) -> None:
        for t in self.tasks:
            t.cancel()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), max(0.0, seconds))

    async def _provider_loop(self) -> None:
        from dnsfilter.authority.bundle import read_state
        from dnsfilter.shell.feedsync import run_child

        while not self.stopping.is_set():
            cfg = self.config()
            prov = cfg.provider
            if prov is None:
                await self._sleep(60.0)  # a reload may add [provider]
                continue
            st = read_state(cfg.provider_dir())
            if not st.last_check:
                due = self.started + FIRST_CHECK
            else:
                wait = prov.interval if st.result in ("new", "unchanged") else min(prov.interval, RETRY_AFTER_FAILURE)
                due = st.last_check + wait * (0.9 + 0.2 * zlib.crc32(f"{st.last_check:.3f}".encode()) / 0xFFFFFFFF)
            if due > time.time():
                await self._sleep(min(due - time.time(), 60.0))
                continue
            try:
                code, why, out = await run_child([sys.executable, "-m", "dnsfilter", "provider", "sync", "-c",
                                                  cfg.path], "provider bundle")
                st2 = read_state(cfg.provider_dir())
                if st2.last_check == st.last_check:  # the child recorded nothing (killed): do not spin
                    log.warning("provider bundle: %s before recording a result: %s", why, out.strip()[-300:])
                    await self._sleep(60.0)
                    continue
                if st2.result == "new":
                    log.info("provider bundle: serial %d accepted (key %s); reloading", st2.serial, st2.key_id)
                    await self.reload()
                elif st2.last_error:
                    log.warning("provider bundle: %s", st2.last_error)
            except Exception:  # one bad round must not stop the loop
                log.exception("provider bundle: sync failed")
                await self._sleep(60.0)

    async def _selftest_loop(self) -> None:
        from dnsfilter.shell.feedsync import run_child

        last = time.monotonic()
        while not self.stopping.is_set():
            cfg = self.config()
            every = cfg.authority.selftest_interval
            if not every:
                self.changed.clear()
                await self._sleep(60.0)
                continue
            if self.changed.is_set():
                await self._sleep(min(SELFTEST_AFTER_CHANGE, every))  # the new version's answers settle first
            elif time.monotonic() < last + every:
                await self._wait_change(min(last + every - time.monotonic(), 60.0))
                continue
            if self.stopping.is_set():
                break
            self.changed.clear()
            last = time.monotonic()
            a = cfg.authority
            code, why, out = await run_child(
                [sys.executable, "-m", "dnsfilter", "authority", "selftest", "-c", cfg.path, "--sample",
                 str(a.selftest_sample), "--rate", str(a.selftest_rate), "--json"], "authority self-test")
            if code == 0:
                log.info("authority self-test: no misses")
            elif code == 1:
                log.warning("authority self-test: %s misses (dnsfilter audit show lists the run)", _misses(out))
            else:
                log.warning("authority self-test could not run: %s: %s", why, out.strip()[-300:])

    async def _wait_change(self, timeout: float) -> None:
        waits = [asyncio.ensure_future(self.stopping.wait()), asyncio.ensure_future(self.changed.wait())]
        try:
            await asyncio.wait(waits, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    # ------------------------------------------------------------ metrics

    def metrics_text(self, cfg: Config, matcher: Matcher, now: float | None = None) -> str:
        return metrics_text(cfg, matcher, time.time() if now is None else now)


def _misses(out: str) -> object:
    try:
        return json.loads(out[out.index("{"):])["misses"]
    except (ValueError, KeyError, TypeError):
        return "some"


def metrics_text(cfg: Config, matcher: Matcher, now: float) -> str:
    """Authority lists and the provider bundle in the Prometheus text format."""
    from dnsfilter.authority.bundle import KINDS, read_state
    from dnsfilter.authority.selftest import read_state as selftest_state
    from feeds.files import read_status

    lines: list[str] = []

    def family(name: str, help_: str, rows: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP dnsfilter_{name} {help_}")
        lines.append(f"# TYPE dnsfilter_{name} gauge")
        for labels, value in rows:
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            lines.append(f"dnsfilter_{name}{{{lab}}} {value:.15g}" if lab else f"dnsfilter_{name} {value:.15g}")

    feeds = [f for f in cfg.feeds if f.enabled and f.category == "authority" and f.name in matcher.sets]
    if feeds:
        st = {f.name: read_status(cfg, f) for f in feeds}
        tests = selftest_state(cfg.data_path())
        family("authority_list_serial", "Versions of the authority list accepted so far (the audit log's serial).",
               [({"feed": f.name, "version": list_version(matcher.sets[f.name].digest)}, st[f.name].serial)
                for f in feeds])
        family("authority_list_age_seconds", "Seconds since the authority list was last confirmed up to date "
               "with its source (a download or a 304).",
               [({"feed": f.name}, round(now - st[f.name].last_success, 1)) for f in feeds if st[f.name].last_success])
        family("authority_list_entries", "Names in the authority list's version in force.",
               [({"feed": f.name}, len(matcher.sets[f.name])) for f in feeds])
        family("authority_list_selftest_misses", "Misses of the last self-test of the list (answers that were not "
               "a block with EDE 16 and its legal basis).",
               [({"feed": f.name, "version": str(tests[f.name].get("version", ""))}, float(tests[f.name]["misses"]))
                for f in feeds if isinstance(tests.get(f.name), dict) and "misses" in tests[f.name]])
        family("authority_list_selftest_timestamp_seconds", "When the list's last self-test ran.",
               [({"feed": f.name}, float(tests[f.name].get("time", 0))) for f in feeds
                if isinstance(tests.get(f.name), dict)])
    if cfg.provider is not None:
        b = read_state(cfg.provider_dir())
        family("provider_bundle_serial", "Serial of the provider bundle the config in force was merged under.",
               [({}, float(cfg.managed.serial))])
        family("provider_last_check_timestamp_seconds", "When the provider's bundle was last checked.",
               [({}, b.last_check)] if b.last_check else [])
        family("provider_bundle_rejected", "1 for the reason the last bundle check failed (the bundle in force "
               "stays): fetch, signature, replay, format, config or storage.",
               [({"reason": k}, 1.0 if b.error_kind == k else 0.0) for k in KINDS])
    return "\n".join(lines) + ("\n" if lines else "")


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def data_state(data_dir: Path) -> dict[str, Any]:
    """What the daemon last recorded as in force (for tests and the status)."""
    try:
        data = json.loads((data_dir / "authority" / STATE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
