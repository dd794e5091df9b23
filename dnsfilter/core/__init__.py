"""The sans-IO core: bytes and `now` in, actions out.

Holds the query path (`engine.py`: identify → local → policy → cache → upstream), the DNS
wire format (`dns/`), list and profile policy (`policy/`), device identity and time rules
(`household/`), and the cache, fast path, query-log ring and rate limiter.

Must not import: anything outside `dnsfilter.core` but the standard library; no I/O modules
(sockets, asyncio, threads, sqlite, mmap, subprocess). `core/ruff.toml` bans them and
tests/unit/core/test_layering.py checks every import against that rule.
"""
