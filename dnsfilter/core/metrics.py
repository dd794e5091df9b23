"""The daemon's status in the Prometheus text exposition format (`/metrics`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _esc(v: object) -> str:
    return str(v).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def metrics_text(status: Mapping[str, object]) -> str:
    """The daemon's status (`ctl status`, plus `answers`, `feed_ages`, `workers` and `querylog`
    when known) in the Prometheus text exposition format, for `/metrics`. Written by hand:
    it is a few lines of text, and the daemon needs no extra dependency for it."""
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: Iterable[tuple[Mapping[str, object], Any]]) -> None:
        rows = [(labels, value) for labels, value in samples if value is not None]
        out.append(f"# HELP dnsfilter_{name} {help_}")
        out.append(f"# TYPE dnsfilter_{name} {kind}")
        for labels, value in rows:
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            out.append(f"dnsfilter_{name}{{{lab}}} {float(value):g}" if lab else f"dnsfilter_{name} {float(value):g}")

    def get(key: str, default: object = None) -> object:
        return status.get(key, default)

    answers = get("answers") or {}
    assert isinstance(answers, Mapping)
    metric("answers_total", "counter", "Answers sent, by outcome, fast path included (from the query log).",
           (({"outcome": k}, v) for k, v in sorted(answers.items())))
    outcomes = get("outcomes") or {}
    assert isinstance(outcomes, Mapping)
    metric("engine_answers_total", "counter", "Answers decided by the resolver engine (the slow path), by outcome.",
           (({"outcome": k}, v) for k, v in sorted(outcomes.items())))
    for key, help_ in (("dropped", "Packets dropped unanswered."), ("ratelimited", "Queries over the rate limit."),
                       ("prefetches", "Cache entries refreshed before expiry."), ("reloads", "Config reloads.")):
        metric(f"{key}_total", "counter", help_, [({}, get(key))])
    cache = get("cache") or {}
    assert isinstance(cache, Mapping)
    metric("cache_hits_total", "counter", "Cache hits in the engine.", [({}, cache.get("hits"))])
    metric("cache_misses_total", "counter", "Cache misses in the engine.", [({}, cache.get("misses"))])
    metric("cache_entries", "gauge", "Answers in the cache.", [({}, cache.get("entries"))])
    fast = get("fastpath") or {}
    assert isinstance(fast, Mapping)
    metric("fastpath_entries", "gauge", "Prebuilt answers in the UDP fast path.", [({}, fast.get("entries"))])
    metric("inflight", "gauge", "Upstream questions in flight.", [({}, get("inflight"))])
    metric("scrubbed_total", "counter", "Upstream answers that carried records not answering the question (dropped).",
           [({}, get("scrubbed"))])
    tcp = get("tcp") or {}
    assert isinstance(tcp, Mapping)
    metric("tcp_connections", "gauge", "Open DNS-over-TCP client connections.", [({}, tcp.get("connections"))])
    metric("tcp_evicted_total", "counter", "Idle TCP connections closed to admit a new client at the limit.",
           [({}, tcp.get("evicted"))])
    metric("tcp_refused_total", "counter", "TCP connections closed at once: at the limit with none idle.",
           [({}, tcp.get("refused"))])
    metric("uptime_seconds", "gauge", "Seconds since the daemon started.", [({}, get("uptime"))])
    metric("workers", "gauge", "DNS worker processes.", [({}, get("workers"))])
    ups = get("upstreams") or []
    assert isinstance(ups, list)
    metric("upstream_latency_seconds", "gauge", "Smoothed answer time of each upstream.",
           [({"upstream": u["text"]}, None if u.get("latency_ms") is None else u["latency_ms"] / 1000) for u in ups])
    metric("upstream_queries_total", "counter", "Queries sent to each upstream.",
           [({"upstream": u["text"]}, u.get("queries")) for u in ups])
    metric("upstream_errors_total", "counter", "Failed queries to each upstream.",
           [({"upstream": u["text"]}, u.get("failures")) for u in ups])
    metric("upstream_healthy", "gauge", "1 when the upstream's last query succeeded.",
           [({"upstream": u["text"]}, 1 if u.get("healthy") else 0) for u in ups])
    feeds = get("feeds") or {}
    ages = get("feed_ages") or {}
    assert isinstance(feeds, Mapping) and isinstance(ages, Mapping)
    metric("feed_names", "gauge", "Names in each compiled feed in force.", (({"feed": k}, v) for k, v in sorted(feeds.items())))
    metric("feed_age_seconds", "gauge", "Seconds since each feed was last compiled.",
           (({"feed": k}, v) for k, v in sorted(ages.items())))
    xfr = get("feed_xfr") or {}
    assert isinstance(xfr, Mapping)
    metric("feed_serial", "gauge", "SOA serial of the version in force of each feed followed by zone transfer.",
           (({"feed": k}, v.get("serial")) for k, v in sorted(xfr.items())))
    metric("feed_stale", "gauge", "1 when a zone-transfer feed's primary has not answered for longer than the "
           "zone's SOA expire (its last good version stays in force).",
           (({"feed": k}, 1 if v.get("stale") else 0) for k, v in sorted(xfr.items())))
    notify = get("notify") or {}
    assert isinstance(notify, Mapping)
    metric("notify_total", "counter", "NOTIFY messages received, by result (accepted, unknown_zone, "
           "wrong_source, bad_tsig, malformed).", (({"result": k}, v) for k, v in sorted(notify.items())))
    ql = get("querylog") or {}
    assert isinstance(ql, Mapping)
    metric("querylog_rows_written_total", "counter", "Query log rows written to disk.", [({}, ql.get("written"))])
    metric("querylog_overflows_total", "counter", "Ring drains that found records lost (ring full).",
           [({}, ql.get("lost"))])
    metric("querylog_rows_shed_total", "counter", "Answers only counted in the rollups during floods.",
           [({}, ql.get("shed"))])
    return "\n".join(out) + "\n"
