"""The real daemon with its real web UI process (`dnsfilter serve` with [web]) on ephemeral
loopback ports, an admin set up and an API token, and a small HTTP client for it."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.daemon import DaemonProcess, free_port
from webui.secrets_store import SecretsStore

PASSWORD = "correct horse battery"


@dataclass
class Live:
    daemon: DaemonProcess
    web_port: int
    token: str

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"} if token != "" else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, _headers, data = self.request(method, path, body)
        return status, json.loads(data)


def start(tmp: Path, config: str, timeout: float = 20.0) -> Live:
    """`config` holds `{port}` for the DNS port; [web] and [storage] are added here."""
    web = free_port()
    (tmp / "var").mkdir(exist_ok=True)
    secrets = SecretsStore(tmp / "var" / "webui")  # what the setup page would do
    secrets.create_admin(PASSWORD, "en")
    token = secrets.create_token("test")
    daemon = DaemonProcess(tmp, config + f'\n[web]\nlisten = "127.0.0.1:{web}"\n').start()
    live = Live(daemon, web, token)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if live.request("GET", "/api/openapi.json", timeout=1)[0] == 200:
                return live
        except OSError:
            pass
        time.sleep(0.1)
    daemon.stop()
    raise RuntimeError(f"the web UI did not answer within {timeout}s:\n{daemon.log()}")
