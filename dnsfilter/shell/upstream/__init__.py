"""Upstream resolvers: the pool that orders and fails over between them (`pool`), and one
transport per protocol over a shared base (`base`): plain UDP/TCP (`plain`), DNS over TLS
(`tls`) and DNS over HTTPS (`doh`).

Must not import: the server or the daemon.
"""
