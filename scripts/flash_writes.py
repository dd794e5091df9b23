#!/usr/bin/env python3
"""How often the daemon writes to state_dir (flash on OpenWrt): docs/deploy.md "Flash writes".

The real `dnsfilter serve` on loopback, on the OpenWrt package's /etc/config/dnsfilter
rendered as the init script renders it (data_dir and state_dir moved into a temporary folder,
a Kids profile with a youtube=60m budget and one device in it). Every file under state_dir is
polled every 0.1 s (a write replaces the file: a new inode or mtime). Phase 1: idle. Phase 2:
the device (dnsmasq's add-mac option, as forward mode sends it) asks youtube.com every 5 s, so
its budget counts. Then the daemon stops. Nothing leaves 127.0.0.1 (the upstreams are never
reached: the answers do not matter, the budget counts the asking).

Usage: flash_writes.py [SECONDS_PER_PHASE]   (default 120; at most 3600)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dns.edns  # noqa: E402
import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402

from dnsfilter.router.uci import to_dict, to_toml  # noqa: E402
from tests.support.daemon import free_port  # noqa: E402

MAC = "02:aa:bb:cc:dd:01"


def main() -> int:
    phase = min(float(sys.argv[1]) if len(sys.argv) > 1 else 120.0, 3600.0)
    tmp = Path(tempfile.mkdtemp(prefix="flash-writes-"))
    port = free_port()
    uci = ((ROOT / "deploy/openwrt/files/dnsfilter.config").read_text()
           .replace("'/var/lib/dnsfilter'", f"'{tmp}/ram'").replace("'/etc/dnsfilter'", f"'{tmp}/flash'")
           .replace("option port '5353'", f"option port '{port}'"))
    uci += (f"\nconfig profile 'kids'\n\toption name 'Kids'\n\tlist budget 'youtube=60m'\n\n"
            f"config device\n\toption name 'Tablet'\n\toption mac '{MAC}'\n\toption profile 'kids'\n")
    (tmp / "dnsfilter").write_text(uci)
    cfg = tmp / "config.toml"
    cfg.write_text(to_toml(to_dict(uci), str(tmp / "dnsfilter")))
    events: list[tuple[float, str]] = []
    done = threading.Event()

    def watch() -> None:
        seen: dict[Path, tuple[int, int, int]] = {}
        while not done.is_set():
            for f in (tmp / "flash").rglob("*") if (tmp / "flash").exists() else []:
                try:
                    st = f.stat()
                except OSError:
                    continue
                key = (st.st_ino, st.st_mtime_ns, st.st_size)
                if seen.get(f) != key:
                    seen[f] = key
                    events.append((time.monotonic(), str(f.relative_to(tmp / "flash"))))
            time.sleep(0.1)

    daemon = subprocess.Popen([sys.executable, "-m", "dnsfilter", "serve", "-c", str(cfg)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert daemon.stdout is not None
        while "ready: answering" not in (line := daemon.stdout.readline()):
            if not line:
                print("the daemon exited", file=sys.stderr)
                return 1
        threading.Thread(target=watch, daemon=True).start()
        t0 = time.monotonic()
        time.sleep(phase)
        t1 = time.monotonic()
        asked = 0
        while time.monotonic() < t1 + phase and asked < 1000:
            q = dns.message.make_query("youtube.com", "A", use_edns=0,
                                       options=[dns.edns.GenericOption(65001, bytes.fromhex(MAC.replace(":", "")))])  # type: ignore[arg-type]
            try:
                dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
            except (dns.exception.Timeout, OSError):
                pass
            asked += 1
            time.sleep(5)
        t2 = time.monotonic()
    finally:
        daemon.terminate()
        daemon.wait(30)
    time.sleep(0.5)
    done.set()
    idle = [e for e in events if e[0] < t1]
    busy = [e for e in events if t1 <= e[0] < t2]
    print(f"idle {phase:.0f} s: {len(idle)} writes; a budget counting {phase:.0f} s ({asked} queries): "
          f"{len(busy)} writes; at stop: {len(events) - len(idle) - len(busy)}")
    print("writes (seconds after start, file):", [(round(t - t0), f) for t, f in events])
    return 0


if __name__ == "__main__":
    sys.exit(main())
