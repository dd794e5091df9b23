"""The counters of every SO_REUSEPORT worker, summed for `ctl status`, `ctl metrics` and /metrics.

Each worker answers the packets the kernel hashes to it and counts them in its own memory;
worker 0 holds the appliance's control socket. So that its answers speak for the appliance,
every other worker listens on a socket of its own (`data_dir/worker-N.sock`, mode 0600) that
answers one command, `status-self`: that worker's own counters. Worker 0 asks each of them
when asked for status or metrics, and sums.

A worker that does not answer in time (being restarted by the supervisor, say) is left out;
`workers_reporting` says how many were counted, so a sum is never mistaken for the whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ASK_TIMEOUT = 2.0  # per worker, asked in parallel: below the UI's 5 s wait for the metrics
SUMMED = ("dropped", "ratelimited", "prefetches", "inflight", "scrubbed")  # plain numbers: the appliance's is the sum
SUMMED_MAPS = ("outcomes", "answers", "cache", "fastpath", "querylog", "tcp")  # {key: number}: summed key by key
UPSTREAM_SUMMED = ("queries", "failures", "connections")


def worker_count(configured: int) -> int:
    """How many SO_REUSEPORT workers serve: `dns.workers`, or one per CPU this process may use."""
    return configured if configured > 0 else (len(os.sched_getaffinity(0)) or 1)


def socket_path(data_dir: Path, index: int) -> Path:
    return data_dir / f"worker-{index}.sock"


async def ask(path: Path, timeout: float = ASK_TIMEOUT) -> dict[str, Any] | None:
    """One worker's own status, None when it does not answer in time."""
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout)
        writer.write(b"status-self\n")
        await writer.drain()
        reply = json.loads(await asyncio.wait_for(reader.readline(), timeout))
        status = reply.get("status") if isinstance(reply, dict) and reply.get("ok") else None
        return status if isinstance(status, dict) else None
    except (OSError, TimeoutError, ValueError):
        return None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def gather(data_dir: Path, workers: int) -> list[dict[str, Any] | None]:
    """The own status of workers 1..workers-1, in order (None for a worker that did not answer)."""
    return list(await asyncio.gather(*(ask(socket_path(data_dir, i)) for i in range(1, workers))))


def merge(own: Mapping[str, Any], others: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Worker 0's status with the others' counters added. What is the same in every worker
    (uptime, reloads, feeds: one config, one set of files) stays worker 0's."""
    out: dict[str, Any] = json.loads(json.dumps(own))  # a deep copy; the status is JSON anyway
    answered = [o for o in others if o is not None]
    for st in answered:
        for key in SUMMED:
            if isinstance(st.get(key), int | float):
                out[key] = out.get(key, 0) + st[key]
        for key in SUMMED_MAPS:
            mine = out.setdefault(key, {})
            for k, v in (st.get(key) or {}).items():
                if isinstance(v, int | float):
                    mine[k] = mine.get(k, 0) + v
        _merge_upstreams(out.setdefault("upstreams", []), st.get("upstreams") or [])
    out["workers_reporting"] = 1 + len(answered)
    return out


def _merge_upstreams(mine: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    """Per upstream (by its text): queries, failures and connections summed; the latency
    averaged over the workers weighted by their queries; healthy only if healthy everywhere."""
    by_text = {u["text"]: u for u in mine}
    for u in theirs:
        m = by_text.get(u.get("text"))
        if m is None:  # a worker that reloaded into other upstreams first: listed as it is
            mine.append(dict(u))
            by_text[u["text"]] = mine[-1]
            continue
        if u.get("latency_ms") is not None:
            wm, wu = m.get("queries") or 0, u.get("queries") or 0
            if m.get("latency_ms") is None or wm + wu == 0:
                m["latency_ms"] = u["latency_ms"]
            else:
                m["latency_ms"] = round((m["latency_ms"] * wm + u["latency_ms"] * wu) / (wm + wu), 2)
        for key in UPSTREAM_SUMMED:
            m[key] = (m.get(key) or 0) + (u.get(key) or 0)
        m["healthy"] = bool(m.get("healthy")) and bool(u.get("healthy"))
        m["last_error"] = m.get("last_error") or u.get("last_error")
        m["retry_in"] = max(m.get("retry_in") or 0.0, u.get("retry_in") or 0.0)


def reporting_text(status: Mapping[str, Any]) -> str:
    """The Prometheus lines for `workers_reporting` (metrics_text knows the other keys)."""
    n = status.get("workers_reporting", 1)
    return ("# HELP dnsfilter_workers_reporting DNS worker processes whose counters are in these sums.\n"
            "# TYPE dnsfilter_workers_reporting gauge\n"
            f"dnsfilter_workers_reporting {n}\n")
