"""SQLite storage under `data_dir`: the runtime store (`store`: devices, budgets, pauses) and
the query log (`logstore`); and the web UI's one-time setup code (`setup_code`).

Must not import: `dnsfilter.shell` or `webui` (both use these stores, never the other way).
"""
