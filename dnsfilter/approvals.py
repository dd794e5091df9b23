"""A parent's answer to a child's request, the same from the web UI, `/api/requests` and
`dnsfilter requests approve|deny`:

- a site, approved: an expiring allow (an override, core/policy/overrides.py) for the device, or
  for its whole profile, kept in the runtime store; the daemon is told at once (`ctl overrides`)
  and applies it within its next tick, and drops it the moment it ends;
- more time, approved: today's budget of that device extended (`ctl budget … +MINUTES`), which
  the daemon keeps with the budgets (so it survives a restart) until local midnight;
- denied: only the answer is recorded.

The request keeps who answered, when, for how long and for whom: the audit the parent sees.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo

from dnsfilter.config import Config
from dnsfilter.control_client import NOT_RUNNING, ask
from dnsfilter.storage.child_requests import DURATIONS, AnswerError, Request, RequestStore, open_requests
from dnsfilter.storage.family import family_db, runtime_db
from dnsfilter.storage.store import open_devices

SECONDS = {"15m": 15 * 60, "1h": 3600}
MINUTES = {"15m": 15, "1h": 60, "today": 1440}  # more time: "today" is no limit until midnight
SCOPES = ("device", "profile")


def until_of(duration: str, now: float, tz: str) -> float | None:
    """When an approval given at `now` ends: in 15 minutes, an hour, at local midnight, never."""
    if duration in SECONDS:
        return now + SECONDS[duration]
    if duration == "today":
        zone = zoneinfo.ZoneInfo(tz)
        d = dt.datetime.fromtimestamp(now, zone).date() + dt.timedelta(days=1)
        return dt.datetime(d.year, d.month, d.day, tzinfo=zone).timestamp()
    if duration == "always":
        return None
    raise AnswerError(f"--for must be one of {', '.join(DURATIONS)}")


def control(cfg: Config, line: str, timeout: float = 10.0) -> tuple[bool, str]:
    """One command to the running daemon: (ok, its message); (False, why) when it is not running."""
    reply = ask(cfg.data_path() / "control.sock", line, timeout)
    if not isinstance(reply, dict):
        return False, "the filter is not running" if reply == NOT_RUNNING else "the filter's answer could not be read"
    return bool(reply.get("ok")), str(reply.get("message") or "")


def _stores(cfg: Config) -> RequestStore:
    if not (family_db(cfg).exists() or runtime_db(cfg).exists()):
        raise AnswerError("no request has been made yet (the family's store does not exist)")
    return open_requests(cfg)


def approve(cfg: Config, ident: int, duration: str, *, by: str, scope: str = "device",
            now: float | None = None) -> tuple[Request, str]:
    """Approve request `ident` for `duration`; returns it and what the daemon said."""
    if scope not in SCOPES:
        raise AnswerError("an approval is for the device or its whole profile")
    now = time.time() if now is None else now
    until = until_of(duration, now, cfg.general.timezone)
    store = _stores(cfg)
    try:
        r = store.get(ident)
        if r is None:
            raise AnswerError(f"no request {ident}")
        if r.state != "open":
            raise AnswerError(f"request {ident} was {r.state} already" + (f" (by {r.answered_by})" if r.answered_by else ""))
        if r.kind == "time":
            return _more_time(cfg, store, r, duration, by, now)
        devices = open_devices(cfg)
        try:
            target = f"device:{r.device}" if scope == "device" else f"profile:{r.profile}"
            try:
                o = devices.add_override(target, r.name, "allow", until, source=f"request:{r.id}", now=now)
            except ValueError as e:
                raise AnswerError(str(e)) from None
            try:
                done = store.answer(ident, "approved", by=by, duration=duration, until=until, scope=scope, now=now)
            except AnswerError:
                devices.remove_override(o.id)  # another parent answered first: theirs stands
                raise
        finally:
            devices.close()
        ok, msg = control(cfg, "overrides")
        return done, msg if ok else f"saved; the filter applies it when it starts ({msg})"
    finally:
        store.close()


def _more_time(cfg: Config, store: RequestStore, r: Request, duration: str, by: str,
               now: float) -> tuple[Request, str]:
    if duration not in MINUTES:
        raise AnswerError("more time is given for 15m, 1h or today (a daily limit is changed in the profile)")
    ok, msg = control(cfg, f"budget {r.profile} {r.device} {r.name} +{MINUTES[duration]}")
    if not ok:  # the budget lives in the running daemon: nothing to record without it
        raise AnswerError(f"more time could not be given: {msg}")
    until = until_of("today", now, cfg.general.timezone)
    return store.answer(r.id, "approved", by=by, duration=duration, until=until, now=now), msg


def deny(cfg: Config, ident: int, *, by: str, now: float | None = None) -> Request:
    store = _stores(cfg)
    try:
        return store.answer(ident, "denied", by=by, now=now)
    finally:
        store.close()
