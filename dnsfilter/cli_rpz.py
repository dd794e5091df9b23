"""`dnsfilter rpz export -c FILE --out DIR [--json]` and `dnsfilter rpz publish -c FILE`: the
policy as Response Policy Zones (feeds/rpz_export.py), and the reload command after a publish."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from dnsfilter.config import Config

if TYPE_CHECKING:
    from feeds.rpz_export import Export


def rpz(args: argparse.Namespace, cfg: Config, fail: Callable[..., NoReturn]) -> int:
    """`dnsfilter rpz export` and `rpz publish` (docs/rpz.md); `fail` prints one line and exits."""
    from feeds.rpz_export import export

    logging.basicConfig(level="WARNING", format="dnsfilter: %(levelname)s: %(message)s")
    if args.sub == "export":
        out = Path(args.out)
    elif not cfg.rpz.out_dir:
        fail("[rpz] out_dir is not set: where should `rpz publish` write the zones?")
    else:
        out = cfg.base_dir() / cfg.rpz.out_dir
    try:
        result = export(cfg, out)
    except OSError as e:
        fail(f"cannot write the zones into {out}: {e.strerror or e}", 1)
    changed = any(z.changed for z in result.zones) or bool(result.emptied)
    reload = None
    if args.sub == "publish" and changed and result.zones and cfg.rpz.reload_command:
        reload = _run_reload(cfg.rpz.reload_command)
    try:
        _report(args, result, out, changed, reload)
    except BrokenPipeError:  # `| head`: the reader had enough
        pass
    if not result.zones:
        fail("nothing could be exported" + (f" ({len(result.refused)} list(s) refused)" if result.refused else ""))
    return 0 if reload is None or reload["ok"] else 1


def _report(args: argparse.Namespace, result: Export, out: Path, changed: bool,
            reload: dict[str, object] | None) -> None:
    if args.json:
        print(json.dumps({"zones": [dict(vars(z), file=str(out / f"{z.zone}.zone")) for z in result.zones],
                          "refused": result.refused, "notes": result.notes, "emptied": result.emptied,
                          **({"reload": reload} if reload is not None else {})}, indent=1))
    else:
        for z in result.zones:
            ede = f"  ede {z.ede}" if z.ede else ""
            print(f"{z.zone}  serial {z.serial}  {z.records} records  {'written' if z.changed else 'unchanged'}{ede}")
        for line in result.emptied:
            print(f"{line}  emptied: no longer exported")
        for line in result.refused:
            print(f"dnsfilter: refused: {line}", file=sys.stderr)
        for line in result.notes:
            print(f"dnsfilter: note: {line}", file=sys.stderr)
        if reload is not None:
            print(f"reload: {reload['command']}: {'ok' if reload['ok'] else reload['error']}")
        elif args.sub == "publish" and result.zones:
            print("reload: not needed (no zone changed)" if not changed else
                  "reload: no [rpz] reload_command set: reload the server yourself")


def _run_reload(command: str) -> dict[str, object]:
    """Run `[rpz] reload_command` (no shell); what happened, for the output."""
    import shlex
    import subprocess

    argv = shlex.split(command)
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"command": command, "ok": False, "error": f"cannot run it: {e}"}
    tail = " ".join((p.stderr or p.stdout).split())[-300:]
    return {"command": command, "ok": p.returncode == 0,
            "error": "" if p.returncode == 0 else f"exit {p.returncode}" + (f": {tail}" if tail else "")}
