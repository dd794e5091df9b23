"""A client of the daemon's control socket (`data_dir/control.sock`): one command line out, one
JSON line back. Used by `dnsfilter requests` (approvals.py) and the web UI (webui/control.py)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

NOT_RUNNING, UNREADABLE = "not running", "unreadable"


def ask(path: Path, line: str, timeout: float = 10.0) -> dict[str, Any] | str:
    """The daemon's reply as a dict, or NOT_RUNNING / UNREADABLE."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(line.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n") and len(data) < 8 << 20:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return NOT_RUNNING
    try:
        reply = json.loads(data)
    except ValueError:
        return UNREADABLE
    return reply if isinstance(reply, dict) else UNREADABLE
