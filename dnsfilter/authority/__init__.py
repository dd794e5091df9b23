"""Authority lists and managed routers: the hash-chained audit trail of every list version
(`audit`), the provider's signed bundle with its locked settings (`bundle`), the proof that a
running resolver enforces each list (`selftest`), and their commands (`commands`).

Must not import: `dnsfilter.shell` (the daemon calls in here, not the other way round) or `webui`.
"""
