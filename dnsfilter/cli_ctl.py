"""`dnsfilter ctl`: one command to a running daemon over its control socket, its reply printed."""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tomllib
from pathlib import Path

from dnsfilter.cli_common import fail


def ctl(args: argparse.Namespace) -> int:
    # The daemon validates the config itself on reload: here only data_dir is needed, so a
    # config with a mistake can still be sent to it (and rejected with the reason).
    path = control_socket(args.config)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(str(path))
            s.sendall(" ".join([args.command, *args.args]).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        fail(f"cannot reach the daemon at {path}: {e.strerror or e}", 1)
    if not data.strip():
        fail("the daemon closed the connection without a reply (its log says why)", 1)
    try:
        reply = json.loads(data)
    except ValueError:
        fail("the daemon sent an unreadable reply", 1)
    if args.command == "status":
        print(json.dumps(reply.get("status", reply.get("message")), indent=1))
    elif args.command == "metrics" and reply.get("ok"):
        sys.stdout.write(reply.get("metrics", ""))
    elif args.command in ("devices", "usage") and reply.get("ok"):
        print(json.dumps(reply.get(args.command), indent=1))
    else:
        print(reply.get("message"))
    return 0 if reply.get("ok") else 1


def control_socket(config_path: str) -> Path:
    p = Path(config_path)
    data_dir = "var"
    try:
        with p.open("rb") as f:
            data_dir = str(tomllib.load(f).get("storage", {}).get("data_dir", "var"))
    except FileNotFoundError:
        fail(f"{p}: no such config file")
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        pass
    return (p.resolve().parent / data_dir).resolve() / "control.sock"  # as Config.data_path
