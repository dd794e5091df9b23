"""Client of the daemon's control socket (`data_dir/control.sock`): one line out, one JSON
line back. The UI never touches the daemon's memory; a stopped daemon is a normal state."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def send(socket_path: Path, command: str, timeout: float = 10.0) -> Reply:
    """Send one command; a daemon that is not running gives ok=False with a plain reason."""
    if "\n" in command or "\r" in command:
        return Reply(False, "invalid command")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(socket_path))
            s.sendall(command.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n") and len(data) < 8 << 20:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return Reply(False, "daemon not running")
    try:
        reply = json.loads(data)
    except ValueError:
        return Reply(False, "unreadable reply from the daemon")
    if not isinstance(reply, dict):
        return Reply(False, "unreadable reply from the daemon")
    return Reply(bool(reply.get("ok")), str(reply.get("message") or ""), reply)
