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

The web UI's process imports Flask `without_ssl()` (http.client and werkzeug then leave out
their HTTPS parts, which the UI never uses) and with `builtin_hashes()`: its session signing
and token digests use the built-in hashes, and the login's scrypt, which only OpenSSL has,
runs in a short-lived child (webui/secrets_store.py).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

# The asyncio modules that read their `ssl` global at run time (None: "no TLS here").
ASYNCIO_TLS = ("asyncio.base_events", "asyncio.selector_events", "asyncio.sslproto")
# OpenSSL's hashes: hashlib and hmac fall back to the built-in ones when it cannot be imported.
OPENSSL_HASHES = "_hashlib"

_lock = threading.Lock()
_deferred = False


@contextmanager
def without_ssl() -> Iterator[bool]:
    """Imports inside take their no-ssl branch (True), unless ssl is loaded already (False).
    Afterwards `import ssl` loads the real module. None in sys.modules is the import system's
    own "not available": the import raises ModuleNotFoundError, which asyncio, http.client,
    werkzeug and urllib catch."""
    if "ssl" in sys.modules:
        yield False
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]
    try:
        yield True
    finally:
        if "ssl" in sys.modules and sys.modules["ssl"] is None:
            del sys.modules["ssl"]


def builtin_hashes() -> bool:
    """Keep `_hashlib` (libcrypto) out: hashlib and hmac use the built-in hashes, and hashlib
    has no scrypt or pbkdf2_hmac. False when OpenSSL is loaded already."""
    if OPENSSL_HASHES in sys.modules or "ssl" in sys.modules:
        return sys.modules.get(OPENSSL_HASHES, False) is None
    sys.modules[OPENSSL_HASHES] = None  # type: ignore[assignment]
    return True


def defer() -> bool:
    """Import asyncio without ssl, and keep `_hashlib` out until TLS is needed. Each only
    before the process has loaded it (False: ssl or asyncio was loaded already, so asyncio has
    TLS; `_hashlib` is still kept out if it can be)."""
    global _deferred
    builtin_hashes()
    if "asyncio" in sys.modules:
        return False
    with without_ssl() as hidden:
        import asyncio  # noqa: F401
    _deferred = hidden
    return hidden


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


def https_client() -> None:
    """http.client and urllib.request with their HTTPS parts, for a library that needs them
    at import (prometheus_client's exposition imports urllib.request's HTTPSHandler). Where
    they were imported `without_ssl()` (the web UI), ssl is loaded now and the two modules are
    imported again: classes made from the old ones keep working, new imports see HTTPS."""
    import importlib

    ssl_module()
    client = sys.modules.get("http.client")
    if client is not None and not hasattr(client, "HTTPSConnection"):
        importlib.reload(client)
        request = sys.modules.get("urllib.request")
        if request is not None and not hasattr(request, "HTTPSHandler"):
            importlib.reload(request)
