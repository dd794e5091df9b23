"""dnsfilter/shell/tlsload.py in a fresh interpreter each (this one has ssl loaded already):
deferred, asyncio imports without ssl and hashlib uses the built-in hashes; after
`ssl_module()`, asyncio makes a real verified TLS connection (a loopback asyncio TLS server
with a throwaway CA) and hashlib/hmac still work; too late to defer, nothing changes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO
from tests.support.unbound import TLS_NAME, make_certs

DEFERRED = """
import json, sys
from dnsfilter.shell import tlsload
first = tlsload.defer()
import asyncio, hashlib, hmac, secrets
import dnsfilter.shell.daemon, dnsfilter.shell.upstream.pool  # what `dnsfilter serve` imports
loaded = lambda: sorted(m for m in ("ssl", "_ssl", "_hashlib") if sys.modules.get(m) is not None)
before = {"first": first, "again": tlsload.defer(), "loaded": loaded(), "deferred": tlsload.deferred(),
          "sha256": hashlib.sha256(b"x").hexdigest()[:8], "hmac": hmac.new(b"k", b"m", "sha256").hexdigest()[:8],
          "token": len(secrets.token_hex(4))}
ca, crt, key = sys.argv[1:4]

async def main():
    from dnsfilter.shell.upstream.base import tls_context
    ctx = tls_context(ca)  # the daemon's own path to TLS: ssl_module()
    ssl = sys.modules["ssl"]
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(crt, key)

    async def echo(r, w):
        w.write((await r.readline()).upper())
        await w.drain()
        w.close()

    srv = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx)
    port = srv.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=sys.argv[4])
    w.write(b"hello\\n")
    got = await r.readline()
    w.close()
    srv.close()
    return got.decode().strip()

got = asyncio.run(asyncio.wait_for(main(), 10))
after = {"loaded": loaded(), "deferred": tlsload.deferred(), "echo": got,
         "sha256": hashlib.sha256(b"x").hexdigest()[:8]}
print(json.dumps({"before": before, "after": after}))
"""


def run(code: str, *args: str) -> dict[str, dict[str, object]]:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_deferred_tls_is_loaded_by_the_first_context_and_asyncio_uses_it(tmp_path: Path) -> None:
    ca, crt, key = make_certs(tmp_path)
    out = run(DEFERRED, str(ca), str(crt), str(key), TLS_NAME)
    before, after = out["before"], out["after"]
    assert before["first"] is True and before["again"] is False
    assert before["loaded"] == [] and before["deferred"] is True  # the daemon's modules: no TLS, no OpenSSL
    assert before["sha256"] == "2d711642" and before["hmac"] == "b60090e3" and before["token"] == 8  # built-in hashes
    assert after["echo"] == "HELLO"  # a verified TLS connection through asyncio
    assert after["deferred"] is False and "ssl" in after["loaded"] and "_ssl" in after["loaded"]
    assert after["sha256"] == "2d711642"


def test_too_late_to_defer_changes_nothing() -> None:
    out = run("import json, ssl, sys\nfrom dnsfilter.shell import tlsload\n"
              "d = tlsload.defer()\nimport asyncio.sslproto as p\n"
              "print(json.dumps({'r': {'defer': d, 'deferred': tlsload.deferred(), 'ssl': p.ssl is ssl, "
              "'hashlib_blocked': sys.modules.get('_hashlib', 1) is None}}))")
    assert out["r"] == {"defer": False, "deferred": False, "ssl": True, "hashlib_blocked": False}
