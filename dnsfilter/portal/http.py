"""Just enough HTTP/1.1 for two pages and two forms: a request head read from bytes (bounded,
strict), a urlencoded form body, and a whole response with `Connection: close`.

Hand-written rather than http.server: that server is blocking and takes a thread per
connection, where the portal runs on the daemon's event loop next to DNS, bounded in
connections, bytes and time (shell/portal.py), and needs no more than this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

MAX_HEAD = 8192
MAX_BODY = 4096
REASONS = {200: "OK", 204: "No Content", 303: "See Other", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large", 429: "Too Many Requests",
           451: "Unavailable For Legal Reasons", 500: "Internal Server Error"}
# No script, no outside resource, no framing; the forms post to the page's own host, which
# answers with a redirect to the child's page at the portal's address (`home`): form-action
# must allow that origin too, as browsers check a form's redirects against it.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'{home}; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
            ("Cache-Control", "no-store"))


class HttpError(ValueError):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; a repeated header keeps its first value
    body: bytes = b""
    form: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        """The Host header's name, lower case, without port, brackets or a trailing dot."""
        h = self.headers.get("host", "").strip().lower()
        if h.startswith("["):
            return h[1:].partition("]")[0]
        if h.count(":") == 1:
            h = h.partition(":")[0]
        return h.rstrip(".")

    def content_length(self) -> int:
        raw = self.headers.get("content-length", "0").strip() or "0"
        if not raw.isascii() or not raw.isdigit():
            raise HttpError(400, "bad Content-Length")
        n = int(raw)
        if n > MAX_BODY:
            raise HttpError(413, "body too large")
        return n


def parse_head(head: bytes) -> Request:
    """The request line and headers (everything before the blank line)."""
    if len(head) > MAX_HEAD:
        raise HttpError(400, "header too large")
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # latin-1 decodes every byte; kept for clarity
        raise HttpError(400, "undecodable header") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "bad request line")
    method, target, _version = parts
    if not method.isalpha() or not method.isupper():
        raise HttpError(400, "bad method")
    if not target.startswith("/"):
        if target.startswith("http://"):  # absolute form (a proxy-style request): keep the path
            target = "/" + target[7:].partition("/")[2]
        else:
            raise HttpError(400, "bad target")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or any(c in name for c in " \t"):
            raise HttpError(400, "bad header line")
        headers.setdefault(name.lower(), value.strip())
    split = urlsplit(target)
    query = dict(parse_qsl(split.query, keep_blank_values=True, max_num_fields=20))
    return Request(method, split.path or "/", query, headers)


def parse_form(req: Request) -> dict[str, str]:
    ctype = req.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise HttpError(400, "forms only")
    try:
        return dict(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True, max_num_fields=20,
                              strict_parsing=False))
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "bad form") from None


def response(status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8",
             headers: tuple[tuple[str, str], ...] = (), head_only: bool = False, home: str = "") -> bytes:
    """A whole response. `home`: the portal's origin (http://address[:port]), where forms may lead."""
    csp = CSP.format(home=f" {home}" if home and all(c.isalnum() or c in ":/.[]-" for c in home) else "")
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}", f"Content-Length: {len(body)}",
             "Connection: close", f"Content-Security-Policy: {csp}"]
    if body:
        lines.append(f"Content-Type: {ctype}")
    lines += [f"{k}: {v}" for k, v in (*SECURITY, *headers)]
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return out if head_only else out + body
