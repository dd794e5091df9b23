"""Download a feed to a local file: http(s) through requests, file:// URLs and plain paths.

Bounded and failure-tolerant, because a feed server is not under our control:
- connect and read timeouts, and a total deadline (a server that trickles one byte per
  read timeout would otherwise hold a sync forever);
- a size cap on the *decoded* body, enforced while streaming (and up front from
  Content-Length). Decompression is done here, never by urllib3: a gzip bomb is inflated with
  `max_length` and stops at the cap instead of inflating one huge chunk into memory;
- conditional GET with the stored ETag / Last-Modified, so an unchanged feed costs a 304;
- retries with bounded exponential back-off on connection errors, timeouts, 5xx, 408 and 429
  (the sleep function is injectable so tests do not wait);
- proxies from the environment (requests' trust_env default).

The body goes to `<dest>.part` and is renamed over `dest` only when complete, so `dest` is
either the previous good download or the new one, never a torn file. `fetch` does not raise for
network, HTTP, size or decoding problems: it returns status "failed" with a one-line `error`.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

if TYPE_CHECKING:  # imported when an http(s) feed is fetched: requests costs the daemon ~6 MB RSS
    import requests

CHUNK = 64 * 1024
MAX_BACKOFF = 60.0
RETRY_STATUS = frozenset({408, 429})
GZIP_TYPES = frozenset({"application/gzip", "application/x-gzip"})


@dataclass
class FetchResult:
    status: str  # "new" | "unchanged" | "failed"
    path: Path | None  # the current good file (None when there is none)
    etag: str | None = None  # validators to send back next time
    last_modified: str | None = None
    bytes: int = 0  # decoded bytes written ("new" only)
    error: str = ""  # one line, set when status == "failed"
    mtime: float | None = None  # file sources: the source's mtime and size, to send back
    size: int | None = None


class _TooBig(Exception):
    pass


class _Decoder:
    """Inflates gzip/zlib/raw-deflate chunks with the output capped at `limit` bytes in all.
    Concatenated gzip members (as `cat a.gz b.gz` makes) are inflated one after another."""

    def __init__(self, kind: str, limit: int) -> None:
        self.kind = kind
        self.limit = limit
        self.out = 0
        self._d: zlib._Decompress | None = None

    def _new(self, first: bytes) -> zlib._Decompress:
        if self.kind == "deflate" and first[:1] != b"\x78":  # raw deflate, as some servers send
            return zlib.decompressobj(-zlib.MAX_WBITS)
        return zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._d is None:
                self._d = self._new(data)
            chunk = self._d.decompress(data, self.limit - self.out + 1)
            data = self._d.unconsumed_tail
            if self._d.eof:
                data = self._d.unused_data + data
                self._d = None
                if data.strip(b"\x00") == b"":  # trailing padding after the last member
                    data = b""
            yield from self._emit(chunk)

    def close(self) -> Iterator[bytes]:
        if self._d is not None:
            yield from self._emit(self._d.flush())
            if not self._d.eof:
                raise zlib.error("truncated compressed body")

    def _emit(self, chunk: bytes) -> Iterator[bytes]:
        self.out += len(chunk)
        if self.out > self.limit:
            raise _TooBig()
        if chunk:
            yield chunk


def _safe_url(url: str) -> str:
    """The URL without credentials and query, for error messages and logs."""
    try:
        p = urlsplit(url)
        host = p.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{p.port}" if p.port else ""
        return urlunsplit((p.scheme, host + port, p.path, "", ""))
    except ValueError:
        return "<bad url>"


def _part(dest: Path) -> Path:
    # name + ".part" rather than with_suffix: `list.txt` and `list.gz` must not share a temp file
    return dest.with_name(dest.name + ".part")


def _write(chunks: Iterator[bytes], dest: Path, deadline: float) -> int:
    """Write `chunks` to the .part file and rename it over `dest`; removes the .part on any
    failure. Returns the number of bytes written."""
    part = _part(dest)
    total = 0
    try:
        with open(part, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                total += len(chunk)
                if time.monotonic() > deadline:
                    raise TimeoutError("total download time exceeded")
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return total


def _decoded(raw: Iterator[bytes], layers: list[str], max_bytes: int) -> Iterator[bytes]:
    """Raw chunks through each compression layer (outermost first), counting the final output
    against `max_bytes` and the raw input too (a layer could also just pass data through)."""
    seen = 0

    def counted(src: Iterator[bytes]) -> Iterator[bytes]:
        nonlocal seen
        for chunk in src:
            seen += len(chunk)
            if seen > max_bytes:
                raise _TooBig()
            yield chunk

    stream: Iterator[bytes] = counted(raw)
    for kind in layers:
        stream = _inflate(stream, kind, max_bytes)
    total = 0
    for chunk in stream:
        total += len(chunk)
        if total > max_bytes:
            raise _TooBig()
        yield chunk


def _inflate(src: Iterator[bytes], kind: str, limit: int) -> Iterator[bytes]:
    dec = _Decoder(kind, limit)
    for chunk in src:
        yield from dec.feed(chunk)
    yield from dec.close()


def _is_gzip_name(path: str) -> bool:
    return path.lower().endswith((".gz", ".gzip"))


def fetch(url: str, dest: Path, *, etag: str | None = None, last_modified: str | None = None,
          max_bytes: int = 64 << 20, connect_timeout: float = 10.0, read_timeout: float = 30.0,
          retries: int = 3, backoff: float = 1.0, session: requests.Session | None = None,
          mtime: float | None = None, size: int | None = None, total_timeout: float = 600.0,
          sleep: Callable[[float], None] = time.sleep) -> FetchResult:
    """Fetch `url` into `dest`. Send back the etag / last_modified (HTTP) or mtime / size (files)
    of the previous result so that an unchanged feed is not downloaded again."""
    dest = Path(dest)
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in ("http", "https"):
        return _fetch_http(url, dest, etag, last_modified, max_bytes, (connect_timeout, read_timeout),
                           retries, backoff, session, total_timeout, sleep)
    if scheme in ("", "file"):
        return _fetch_file(url, dest, mtime, size, max_bytes, total_timeout)
    return FetchResult("failed", _existing(dest), etag, last_modified,
                       error=f"unsupported URL scheme {scheme!r}")


def _existing(dest: Path) -> Path | None:
    return dest if dest.exists() else None


def _fetch_file(url: str, dest: Path, mtime: float | None, size: int | None, max_bytes: int,
                total_timeout: float) -> FetchResult:
    if url.lower().startswith("file://"):
        p = urlsplit(url)
        if p.netloc not in ("", "localhost"):
            return FetchResult("failed", _existing(dest), error=f"file URL with a remote host: {_safe_url(url)}")
        src = Path(unquote(p.path))
    else:
        src = Path(url)
    try:
        st = src.stat()
        if _existing(dest) and mtime == st.st_mtime and size == st.st_size:
            return FetchResult("unchanged", dest, mtime=st.st_mtime, size=st.st_size)
        if st.st_size > max_bytes:  # compressed or not, its content is at least this big
            return FetchResult("failed", _existing(dest), mtime=mtime, size=size,
                               error=f"{src}: {st.st_size} bytes, over the {max_bytes}-byte cap")
        with open(src, "rb") as f:
            head = f.read(2)
            f.seek(0)
            layers = ["gzip"] if head == b"\x1f\x8b" else []
            raw = iter(lambda: f.read(CHUNK), b"")
            written = _write(_decoded(raw, layers, max_bytes), dest, time.monotonic() + total_timeout)
    except _TooBig:
        return FetchResult("failed", _existing(dest), mtime=mtime, size=size,
                           error=f"{src}: over the {max_bytes}-byte cap")
    except (OSError, zlib.error) as e:
        return FetchResult("failed", _existing(dest), mtime=mtime, size=size,
                           error=f"{src}: {type(e).__name__}: {e}".replace("\n", " "))
    return FetchResult("new", dest, bytes=written, mtime=st.st_mtime, size=st.st_size)


def _fetch_http(url: str, dest: Path, etag: str | None, last_modified: str | None, max_bytes: int,
                timeout: tuple[float, float], retries: int, backoff: float,
                session: requests.Session | None, total_timeout: float,
                sleep: Callable[[float], None]) -> FetchResult:
    import requests

    own = session is None
    sess = session or requests.Session()
    headers = {"Accept-Encoding": "gzip, deflate"}  # only what _Decoder can inflate
    if etag and _existing(dest):
        headers["If-None-Match"] = etag
    if last_modified and _existing(dest):
        headers["If-Modified-Since"] = last_modified
    shown = _safe_url(url)
    deadline = time.monotonic() + total_timeout
    error = ""
    try:
        for attempt in range(retries + 1):
            if attempt:
                sleep(min(backoff * 2 ** (attempt - 1), MAX_BACKOFF))
            result, retry = _attempt(sess, url, shown, dest, headers, etag, last_modified, max_bytes,
                                     timeout, deadline)
            if result is not None:
                return result
            error = retry
            if time.monotonic() > deadline:
                break
        tries = "1 attempt" if attempt == 0 else f"{attempt + 1} attempts"
        return FetchResult("failed", _existing(dest), etag, last_modified, error=f"{error} ({tries})")
    finally:
        if own:
            sess.close()


def _attempt(sess: requests.Session, url: str, shown: str, dest: Path, headers: dict[str, str],
             etag: str | None, last_modified: str | None, max_bytes: int,
             timeout: tuple[float, float], deadline: float) -> tuple[FetchResult | None, str]:
    """One request: (final result, "") or (None, why it is worth retrying)."""
    import requests
    import urllib3

    def failed(why: str) -> tuple[FetchResult, str]:
        return FetchResult("failed", _existing(dest), etag, last_modified, error=why), ""

    try:
        with sess.get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=True) as resp:
            if resp.status_code == 304:
                return FetchResult("unchanged", _existing(dest), resp.headers.get("ETag", etag),
                                   resp.headers.get("Last-Modified", last_modified)), ""
            if resp.status_code >= 500 or resp.status_code in RETRY_STATUS:
                return None, f"HTTP {resp.status_code} from {shown}"
            if resp.status_code != 200:
                return failed(f"HTTP {resp.status_code} from {shown}")
            length = resp.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                return failed(f"{shown}: Content-Length {length} is over the {max_bytes}-byte cap")
            layers = []
            encoding = resp.headers.get("Content-Encoding", "identity").lower().strip()
            if encoding in ("gzip", "x-gzip", "deflate"):
                layers.append("deflate" if encoding == "deflate" else "gzip")
            elif encoding not in ("", "identity"):
                return failed(f"{shown}: unsupported Content-Encoding {encoding!r}")
            ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype in GZIP_TYPES or _is_gzip_name(urlsplit(resp.url).path):
                layers.append("gzip")  # a .gz file: the body itself is compressed
            raw = resp.raw.stream(CHUNK, decode_content=False)
            written = _write(_decoded(raw, layers, max_bytes), dest, deadline)
            return FetchResult("new", dest, resp.headers.get("ETag"), resp.headers.get("Last-Modified"),
                               bytes=written), ""
    except _TooBig:
        return failed(f"{shown}: body over the {max_bytes}-byte cap")
    except zlib.error as e:
        return failed(f"{shown}: corrupt compressed body ({e})")
    except requests.exceptions.InvalidURL as e:
        return failed(f"invalid URL {shown}: {e}")
    except (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError) as e:
        return None, f"timeout fetching {shown} ({type(e).__name__})"
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
        return None, f"cannot fetch {shown}: {type(e).__name__} ({_root_cause(e)})"


def _root_cause(e: BaseException) -> str:
    """The innermost cause, briefly. The outer messages of requests/urllib3 repeat the full URL,
    query and all, which may hold a token, so they are never shown."""
    seen = {id(e)}
    while True:
        inner = getattr(e, "reason", None)
        if not isinstance(inner, BaseException):
            inner = e.args[0] if e.args and isinstance(e.args[0], BaseException) else None
        inner = inner or e.__cause__ or e.__context__
        if inner is None or id(inner) in seen:
            break
        seen.add(id(inner))
        e = inner
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return type(e).__name__
