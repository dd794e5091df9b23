"""Upstream resolvers: the pool that orders and fails over between them (`pool`, with each
upstream's `health` and one query's `race` of attempts), one transport per protocol over a
shared base (`base`): plain UDP/TCP (`plain`), DNS over TLS (`tls`) and DNS over HTTPS (`doh`),
and the `bootstrap` lookups of DoT/DoH host names.

Must not import: the server or the daemon.
"""
