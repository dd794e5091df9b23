"""The DNS message: the wire format reader and walker (`wire`), reply builders with EDE
(`codec`), CNAME rewrites for safe search (`rewrite`) and upstream address specs
(`upstream_spec`).

Must not import: the rest of `dnsfilter.core` (policy, household, engine) — these are the
bottom layer that everything else in the core builds on.
"""
