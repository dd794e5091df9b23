"""`dnsfilter serve` (the DNS service, with its web UI in a process of its own) and
`dnsfilter setup-code` (what an installer prints so the owner can finish setup)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dnsfilter.cli_common import fail, load
from dnsfilter.config import Config

if TYPE_CHECKING:
    from dnsfilter.shell.webproc import WebUI


def serve(args: argparse.Namespace) -> int:
    from dnsfilter.shell import tlsload

    tlsload.defer()  # before asyncio's import: TLS is loaded when an upstream first needs it
    import asyncio

    from dnsfilter.shell.privilege import PrivilegeError, refuse_foreign_folder

    cfg = load(args.config)
    try:
        refuse_foreign_folder(cfg.data_path(), "dnsfilter serve")
    except PrivilegeError as e:
        fail(str(e))
    from dnsfilter.shell.logs import configure

    configure(args.log_level, args.log_to)
    from dnsfilter.shell.daemon import Daemon
    from dnsfilter.shell.worker_stats import worker_count
    from dnsfilter.shell.workers import supervise
    from dnsfilter.storage.state_dir import settle

    settle(cfg.data_path(), cfg.state_path())  # an older version's account and pauses, moved once
    n = worker_count(cfg.dns.workers)
    web = _start_web(cfg, args.web_any_address)
    try:
        if n > 1:
            return supervise(cfg, n)
        return asyncio.run(Daemon(cfg).run())
    finally:
        if web is not None:
            web.terminate()
            web.wait(5)


def _start_web(cfg: Config, allow_any: bool) -> WebUI | None:
    """The web UI in its own process when [web] is set, started at its first connection."""
    if cfg.web is None:
        return None
    from dnsfilter.shell.webproc import start  # not webui.server: the webui package imports Flask

    return start(cfg, allow_any)


def print_setup_code(args: argparse.Namespace) -> int:
    """What an installer prints at its end, so the owner can finish setup in the browser."""
    from dnsfilter.shell.webproc import url
    from dnsfilter.storage import setup_code
    from dnsfilter.storage.state_dir import settle

    cfg = load(args.config)
    try:
        settle(cfg.data_path(), cfg.state_path())
        code = setup_code.ensure(cfg.state_path())
    except OSError as e:
        fail(f"cannot make the setup code in {cfg.state_path()}: {e.strerror or e}", 1)
    if code is None:
        print("setup is done: log in with the admin password")
        return 0
    where = f"enter it at {url(cfg)}setup" if cfg.web is not None else "the config has no [web] section yet"
    print(f"setup code: {setup_code.shown(code)} ({where})")
    return 0
