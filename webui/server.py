"""Run the web UI under waitress in its own process, so a slow page never delays DNS.

`dnsfilter serve` starts it when the config has a `[web]` section. The UI listens on
loopback or a LAN (private/link-local) address only, unless `--web-any-address` is given:
an admin page on a public address invites password guessing from the whole internet.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import subprocess
import sys

from dnsfilter.config import Config
from dnsfilter.config_values import parse_listen

log = logging.getLogger("dnsfilter.webui")


def listen_problem(host: str, allow_any: bool = False) -> str | None:
    """Why the UI must not listen on `host` (None: fine)."""
    ip = ipaddress.ip_address(host)
    if allow_any:
        return None
    if ip.is_unspecified:
        return f"{host} listens on every address, public ones too; name a LAN address"
    if not (ip.is_loopback or ip.is_private or ip.is_link_local):
        return f"{host} is not a loopback or LAN address"
    return None


def start(cfg: Config, allow_any: bool = False) -> subprocess.Popen[bytes] | None:
    """Start the UI process for this config; None (and a logged reason) when it must not run."""
    if cfg.web is None:
        return None
    where = parse_listen(cfg.web.listen, "web.listen", 8080)
    problem = listen_problem(where.host, allow_any)
    if problem:
        log.error("web UI not started: web.listen: %s (or pass --web-any-address)", problem)
        return None
    cmd = [sys.executable, "-m", "webui.server", "-c", cfg.path, "--host", where.host, "--port", str(where.port)]
    log.info("web UI on http://%s/", where)
    return subprocess.Popen(cmd)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="dnsfilter-webui")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    args = p.parse_args(argv)
    import waitress

    from webui import create_app

    logging.basicConfig(level="INFO", format="dnsfilter-webui: %(levelname)s: %(message)s")
    # few threads: pages are light, and memory is scarce on a router
    waitress.serve(create_app(args.config), host=args.host, port=args.port, threads=4, ident="dnsfilter")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
