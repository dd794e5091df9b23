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
    publish = None
    if args.sub == "publish" and cfg.rpz.publish == "update":
        from feeds.rpz_update import UpdateFailed, Updater

        try:
            publish = Updater(cfg, cfg.rpz.ttl)
        except UpdateFailed as e:
            fail(f"[rpz] update_key: {e}")
    try:
        result = export(cfg, out, publish=publish)
    except OSError as e:
        fail(f"cannot write the zones into {out}: {e.strerror or e}", 1)
    changed = any(z.changed for z in result.zones) or bool(result.emptied)
    reload = None
    # the zones the primary must re-read: all that changed, or with UPDATE only new files
    stale = [z.zone for z in result.zones if z.changed and z.updated is None]
    if publish is None:
        stale += result.emptied
    if args.sub == "publish" and stale and cfg.rpz.reload_command:
        reload = _run_reload(cfg.rpz.reload_command, stale)
    try:
        _report(args, result, out, changed, reload)
    except BrokenPipeError:  # `| head`: the reader had enough
        pass
    if not result.zones:
        fail("nothing could be exported" + (f" ({len(result.refused)} list(s) refused)" if result.refused else ""))
    return 0 if (reload is None or reload["ok"]) and not result.errors else 1


def _report(args: argparse.Namespace, result: Export, out: Path, changed: bool,
            reload: dict[str, object] | None) -> None:
    if args.json:
        print(json.dumps({"zones": [dict(vars(z), file=str(out / f"{z.zone}.zone")) for z in result.zones],
                          "refused": result.refused, "notes": result.notes, "emptied": result.emptied,
                          "errors": result.errors,
                          **({"reload": reload} if reload is not None else {})}, indent=1))
    else:
        for z in result.zones:
            ede = f"  ede {z.ede}" if z.ede else ""
            how = ("not published" if z.error else f"sent by UPDATE ({z.updated} records), written"
                   if z.updated is not None else "written" if z.changed else "unchanged")
            how += " (patched from its last version)" if z.how == "patched" and not z.error else ""
            print(f"{z.zone}  serial {z.serial}  {z.records} records  {how}{ede}")
        for line in result.emptied:
            print(f"{line}  emptied: no longer exported")
        for line in result.refused:
            print(f"dnsfilter: refused: {line}", file=sys.stderr)
        for line in result.notes:
            print(f"dnsfilter: note: {line}", file=sys.stderr)
        for line in result.errors:
            print(f"dnsfilter: error: {line}; the last published version stays", file=sys.stderr)
        if reload is not None:
            print(f"reload: {reload['command']}: {'ok' if reload['ok'] else reload['error']}")
        elif args.sub == "publish" and result.zones:
            print("reload: not needed (no zone changed)" if not changed else
                  "reload: not needed (sent by UPDATE)" if all(z.updated is not None for z in result.zones if z.changed)
                  else "reload: no [rpz] reload_command set: reload the server yourself")


def _run_reload(command: str, zones: list[str]) -> dict[str, object]:
    """Run `[rpz] reload_command` (no shell), its `{zones}` argument replaced by the zones that
    changed (`knotc zone-reload {zones}`: Knot re-reads only those); what happened, for the output."""
    import shlex
    import subprocess

    argv = [a for arg in shlex.split(command) for a in (zones if arg == "{zones}" else [arg])]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"command": " ".join(argv), "zones": zones, "ok": False, "error": f"cannot run it: {e}"}
    tail = " ".join((p.stderr or p.stdout).split())[-300:]
    return {"command": " ".join(argv), "zones": zones, "ok": p.returncode == 0,
            "error": "" if p.returncode == 0 else f"exit {p.returncode}" + (f": {tail}" if tail else "")}
