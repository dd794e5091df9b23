"""Request-level protection: login throttling, CSRF tokens, response headers, and the
session cookie's Secure flag under HTTPS."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, request, session
from flask.sessions import SecureCookieSessionInterface

FREE_FAILURES = 5  # failures per IP before back-off starts
MAX_DELAY = 15 * 60.0
MAX_TRACKED = 10000  # bound memory if many addresses fail (spoofed or scanning)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@dataclass(slots=True)
class _Entry:
    failures: int = 0
    locked_until: float = 0.0


class Throttle:
    """Exponential back-off per client address: after FREE_FAILURES failures, each further
    failure doubles the wait (1 s, 2 s, 4 s … up to 15 min). A success clears the address."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def wait(self, ip: str) -> float:
        """Seconds this address must still wait before its next attempt (0: go ahead)."""
        with self._lock:
            e = self._entries.get(ip)
            return max(0.0, e.locked_until - self.clock()) if e else 0.0

    def failed(self, ip: str) -> None:
        with self._lock:
            if ip not in self._entries and len(self._entries) >= MAX_TRACKED:
                self._entries.pop(next(iter(self._entries)))  # drop the oldest address
            e = self._entries.setdefault(ip, _Entry())
            e.failures += 1
            if e.failures >= FREE_FAILURES:
                e.locked_until = self.clock() + min(MAX_DELAY, 2.0 ** (e.failures - FREE_FAILURES))

    def succeeded(self, ip: str) -> None:
        with self._lock:
            self._entries.pop(ip, None)


def csrf_token() -> str:
    tok = session.get("csrf")
    if not isinstance(tok, str):
        tok = secrets.token_urlsafe(32)
        session["csrf"] = tok
    return tok


def csrf_ok() -> bool:
    """The form field or X-CSRF-Token header matches the session's token."""
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf")
    return isinstance(expected, str) and bool(sent) and hmac.compare_digest(sent, expected)


def add_headers(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "static":
        resp.headers["Cache-Control"] = "no-store"  # pages show household data
    return resp


class SessionInterface(SecureCookieSessionInterface):
    """Secure cookies whenever the request came over HTTPS (directly or via a trusted proxy),
    so the same appliance works on plain LAN HTTP and behind TLS."""

    def get_cookie_secure(self, app: Flask) -> bool:  # type: ignore[override]
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure
