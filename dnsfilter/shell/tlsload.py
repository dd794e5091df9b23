"""TLS loaded when something first needs it, not when the daemon starts.

asyncio imports `ssl` at its own import (base_events, selector_events and sslproto each try
`import ssl`), which maps libssl and libcrypto and builds the ssl module; `hashlib` and `hmac`
map libcrypto too, through `_hashlib`. That is about 5 MB of a router's RAM (measured with
scripts/bench_footprint.py) in a daemon whose upstreams are plain DNS and whose feeds are
fetched by a child process. `defer()`, called by `dnsfilter serve` before anything imports
asyncio, makes asyncio take its own no-ssl branch, and keeps hashlib and hmac on the standard
library's built-in hashes (no OpenSSL; as fast for the short names a hashed feed hashes).

A DoT/DoH upstream's context (`shell.upstream.base.tls_context`) asks for `ssl_module()`, which
imports ssl then and hands it to the asyncio modules that were imported without it, so their
TLS works from then on as if it had always been loaded. Anything else that imports ssl by
itself (requests, for a provider's bundle) gets the real module; asyncio is handed it at the
next `ssl_module()`. Once loaded it stays (a module cannot be unloaded).
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType

# The asyncio modules that read their `ssl` global at run time (None: "no TLS here").
ASYNCIO_TLS = ("asyncio.base_events", "asyncio.selector_events", "asyncio.sslproto")
# OpenSSL's hashes: hashlib and hmac fall back to the built-in ones when it cannot be imported.
OPENSSL_HASHES = "_hashlib"

_lock = threading.Lock()
_deferred = False


def defer() -> bool:
    """Import asyncio without ssl, and keep `_hashlib` out until TLS is needed. Each only
    before the process has loaded it (False: ssl or asyncio was loaded already, so asyncio has
    TLS; `_hashlib` is still kept out if it can be)."""
    global _deferred
    # None in sys.modules is the import system's own "not available": the import raises
    # ModuleNotFoundError, which asyncio, hashlib and hmac catch and take their fallback for
    if OPENSSL_HASHES not in sys.modules and "ssl" not in sys.modules:
        sys.modules[OPENSSL_HASHES] = None  # type: ignore[assignment]
    if "ssl" in sys.modules or "asyncio" in sys.modules:
        return False
    sys.modules["ssl"] = None  # type: ignore[assignment]
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]  # a later `import ssl` loads the real module
    _deferred = True
    return True


def deferred() -> bool:
    """Whether asyncio still waits for ssl (defer() ran and ssl_module() has not)."""
    return _deferred


def ssl_module() -> ModuleType:
    """The ssl module, imported now if it was deferred, and asyncio able to use it."""
    global _deferred
    import ssl

    with _lock:
        if _deferred:
            for name in ASYNCIO_TLS:
                mod = sys.modules.get(name)
                if mod is not None and getattr(mod, "ssl", None) is None:
                    mod.ssl = ssl  # type: ignore[attr-defined]
            proto = sys.modules.get("asyncio.sslproto")
            if proto is not None and not hasattr(proto, "SSLAgainErrors"):
                # built at sslproto's import only when ssl was there (CPython 3.11-3.13)
                proto.SSLAgainErrors = (ssl.SSLWantReadError, ssl.SSLSyscallError)  # type: ignore[attr-defined]
            if sys.modules.get(OPENSSL_HASHES, ssl) is None:
                del sys.modules[OPENSSL_HASHES]  # libcrypto is mapped now anyway
            _deferred = False
    return ssl
