"""The DoH resolver set refreshed from a feed, end to end, in a network namespace of its own:
a real HTTP server (ETag / If-None-Match) serves the list on the namespace's loopback, the
forced-DNS table is loaded with real nft, and

- the running daemon (root: it may change nftables, as on OpenWrt) fetches the list on its
  `doh_refresh` interval and refills the sets in place (the table's handle stays: not reloaded);
  a changed list lands without a restart; a broken list is rejected and the last good set stays;
- `dnsfilter firewall refresh` (Debian's timer) does the same in one run, exit 1 on a broken list.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.daemon import REPO, terminate
from tests.support.netns import namespaces, run

pytestmark = pytest.mark.integration

SERVER = textwrap.dedent("""
    import hashlib, http.server, sys
    from pathlib import Path
    root = Path(sys.argv[1])

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = (root / "doh.txt").read_bytes()
            tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            with open(root / "requests.log", "a") as log:
                conditional = self.headers.get("If-None-Match") == tag
                log.write(("304" if conditional else "200") + "\\n")
            if conditional:
                self.send_response(304); self.send_header("ETag", tag); self.end_headers(); return
            self.send_response(200); self.send_header("ETag", tag)
            self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
        def log_message(self, *a):
            pass

    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    print(s.server_address[1], flush=True)
    s.serve_forever()
""")


@pytest.fixture
def ns() -> Iterator[str]:
    # the rules' LAN interface "lan0" need not exist: iifname matches by name
    with namespaces("router", needs=("nft",)) as made:
        yield made["router"]


@pytest.fixture
def served(ns: str, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(the served folder, the list's URL): write folder/doh.txt to change what is served."""
    web = tmp_path / "web"
    web.mkdir()
    (web / "doh.txt").write_text("192.0.2.10\n2001:db8::10\n")
    server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, str(web)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        assert port.isdigit(), server.stderr.read() if server.stderr else ""
        yield web, f"http://127.0.0.1:{port}/doh.txt"
    finally:
        server.terminate()
        server.wait(10)


def write_config(tmp_path: Path, url: str, interval: int = 5) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(textwrap.dedent(f"""
        [dns]
        listen = ["127.0.0.1:5397", "lan0:5397"]  # lan0: where the rules' redirect sends LAN DNS

        [storage]
        data_dir = "{tmp_path / "var"}"

        [firewall]
        interfaces = ["lan0"]
        doh_addresses = ["192.0.2.99"]
        doh_feed = "{url}"
        doh_refresh = {interval}
    """))
    return cfg


def dnsfilter(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("ip", "netns", "exec", ns, sys.executable, "-m", "dnsfilter", *args, check=check)


def elements(ns: str, name: str) -> set[str]:
    text = run("ip", "netns", "exec", ns, "nft", "list", "set", "inet", "dnsfilter", name).stdout
    m = re.search(r"elements = \{([^}]*)\}", text)
    return {e.strip() for e in m.group(1).split(",")} if m else set()


def table_handle(ns: str) -> str:
    text = run("ip", "netns", "exec", ns, "nft", "-a", "list", "table", "inet", "dnsfilter").stdout
    return re.search(r"table inet dnsfilter \{ # handle (\d+)", text).group(1)


def wait_for(check: Callable[[], bool], limit: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < limit, what
        time.sleep(0.2)
    return time.monotonic() - start


@contextlib.contextmanager
def netns_daemon(ns: str, cfg: Path, log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Callable[[], str]]]:
    """`dnsfilter serve` inside the namespace, its output in `log_path`; yields the process and
    a reader of that log, and stops it on the way out."""
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "dnsfilter", "serve", "-c",
                                   str(cfg)], stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            yield daemon, lambda: log_path.read_text(errors="replace")
        finally:
            terminate(daemon)


def test_daemon_refreshes_the_doh_set_from_the_feed(ns: str, served: tuple[Path, str], tmp_path: Path) -> None:
    web, url = served
    cfg = write_config(tmp_path, url, interval=5)
    dnsfilter(ns, "firewall", "apply", "-c", str(cfg))  # before any fetch: the config's own address
    assert elements(ns, "doh4") == {"192.0.2.99"}
    handle = table_handle(ns)
    with netns_daemon(ns, cfg, tmp_path / "daemon.log") as (daemon, logged):
        wait_for(lambda: "192.0.2.10" in elements(ns, "doh4"), 20, f"first fetch never landed:\n{logged()}")
        assert elements(ns, "doh4") == {"192.0.2.10", "192.0.2.99"}
        assert elements(ns, "doh6") == {"2001:db8::10"}

        # a changed list lands without a restart, in the same table (refilled, not reloaded)
        (web / "doh.txt").write_text("# moved\n198.51.100.7\n198.51.100.8/31\n2001:db8::77\n")
        took = wait_for(lambda: "198.51.100.7" in elements(ns, "doh4"), 15, f"change never landed:\n{logged()}")
        assert elements(ns, "doh4") == {"198.51.100.7", "198.51.100.8/31", "192.0.2.99"}
        assert elements(ns, "doh6") == {"2001:db8::77"}
        assert table_handle(ns) == handle and daemon.poll() is None
        print(f"changed list in the set after {took:.1f} s (interval 5 s)")

        # unchanged: conditional GETs answered 304
        requests_log = web / "requests.log"
        wait_for(lambda: "304" in requests_log.read_text().split(), 15, "no conditional GET was sent")

        # a broken list is rejected: the last good set stays, the state says why
        (web / "doh.txt").write_text("198.51.100.9\nnot-an-address\n")
        state = tmp_path / "var/doh-resolvers.json"
        wait_for(lambda: json.loads(state.read_text()).get("result") == "rejected", 15, f"not rejected:\n{logged()}")
        assert "not-an-address" in json.loads(state.read_text())["error"]
        assert elements(ns, "doh4") == {"198.51.100.7", "198.51.100.8/31", "192.0.2.99"}
        # the state file is written before the warning reaches the log: wait for it too
        wait_for(lambda: "DoH feed rejected" in logged(), 5, f"no rejection logged:\n{logged()}")
        # an empty list would unblock every resolver: rejected too
        (web / "doh.txt").write_text("# nothing\n")
        wait_for(lambda: "no addresses" in json.loads(state.read_text()).get("error", ""), 15, logged())
        assert "198.51.100.7" in elements(ns, "doh4")
        assert daemon.poll() is None and table_handle(ns) == handle


def test_reload_starts_and_stops_the_feed(ns: str, served: tuple[Path, str], tmp_path: Path) -> None:
    """`[firewall] doh_feed` added by a reload (SIGHUP) is fetched at once, without a restart;
    a changed URL is fetched at once too; removed, its addresses leave the sets. The interval
    is an hour, so only the reloads can explain what lands."""
    web, url = served
    cfg = write_config(tmp_path, url, interval=3600)
    with_feed = cfg.read_text()
    cfg.write_text(with_feed.replace(f'doh_feed = "{url}"\n', ""))  # start without the feed
    dnsfilter(ns, "firewall", "apply", "-c", str(cfg))
    handle = table_handle(ns)
    with netns_daemon(ns, cfg, tmp_path / "daemon.log") as (daemon, logged):
        wait_for(lambda: "ready: answering" in logged(), 20, f"daemon not ready:\n{logged()}")
        time.sleep(1.0)
        assert elements(ns, "doh4") == {"192.0.2.99"} and not (web / "requests.log").exists()

        cfg.write_text(with_feed)
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: "192.0.2.10" in elements(ns, "doh4"), 15, f"added feed never fetched:\n{logged()}")
        assert elements(ns, "doh4") == {"192.0.2.10", "192.0.2.99"} and elements(ns, "doh6") == {"2001:db8::10"}
        assert "DoH feed added" in logged()

        # another URL (the test server answers every path with doh.txt): fetched at once, not in an hour
        cfg.write_text(with_feed.replace("/doh.txt", "/other.txt"))
        (web / "doh.txt").write_text("203.0.113.44\n")
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: "203.0.113.44" in elements(ns, "doh4"), 15, f"changed feed never fetched:\n{logged()}")
        assert elements(ns, "doh4") == {"203.0.113.44", "192.0.2.99"} and elements(ns, "doh6") == set()

        # a reload that leaves the feed as it was does not fetch again
        fetches = len((web / "requests.log").read_text().split())
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: logged().count("reloaded") >= 3, 10, f"third reload not logged:\n{logged()}")
        time.sleep(1.0)
        assert len((web / "requests.log").read_text().split()) == fetches

        cfg.write_text(with_feed.replace(f'doh_feed = "{url}"\n', ""))
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: elements(ns, "doh4") == {"192.0.2.99"}, 15, f"feed's addresses stayed:\n{logged()}")
        assert elements(ns, "doh6") == set() and "DoH feed removed" in logged()
        assert daemon.poll() is None and table_handle(ns) == handle


def test_cli_refresh_fetches_the_feed(ns: str, served: tuple[Path, str], tmp_path: Path) -> None:
    """What Debian's dnsfilter-firewall-refresh.timer runs, as root, outside the daemon."""
    web, url = served
    cfg = write_config(tmp_path, url)
    dnsfilter(ns, "firewall", "apply", "-c", str(cfg))
    out = dnsfilter(ns, "firewall", "refresh", "-c", str(cfg))
    assert "refreshed" in out.stdout and elements(ns, "doh4") == {"192.0.2.10", "192.0.2.99"}
    (web / "doh.txt").write_text("203.0.113.5\n")
    dnsfilter(ns, "firewall", "refresh", "-c", str(cfg))
    assert elements(ns, "doh4") == {"203.0.113.5", "192.0.2.99"} and elements(ns, "doh6") == set()
    (web / "doh.txt").write_text("203.0.113.6\n300.1.1.1\n")
    bad = dnsfilter(ns, "firewall", "refresh", "-c", str(cfg), check=False)
    assert bad.returncode == 1 and "DoH feed rejected" in bad.stderr and "300.1.1.1" in bad.stderr
    assert elements(ns, "doh4") == {"203.0.113.5", "192.0.2.99"}
    # the feed unreachable: failed, the set as it was
    cfg.write_text(cfg.read_text().replace(url, "http://127.0.0.1:9/doh.txt"))
    down = dnsfilter(ns, "firewall", "refresh", "-c", str(cfg), check=False)
    assert down.returncode == 1 and "DoH feed failed" in down.stderr
    assert elements(ns, "doh4") == {"203.0.113.5", "192.0.2.99"}


def test_openwrt_fw4_sets_and_include_follow_the_feed(ns: str, served: tuple[Path, str], tmp_path: Path) -> None:
    """OpenWrt: the rules live inside fw4's table (its table-post include). The refresh refills
    `inet fw4 dnsfilter_doh4` and rewrites the include the init script names, so that the next
    fw4 reload loads the same addresses."""
    web, url = served
    cfg = write_config(tmp_path, url)
    include = tmp_path / "30-dnsfilter.nft"
    include.write_text(dnsfilter(ns, "firewall", "render", "-c", str(cfg), "--variant", "fw4").stdout)
    fw4 = tmp_path / "fw4.nft"  # a stand-in for fw4's ruleset: its table with the include inside
    fw4.write_text(f'table inet fw4\ndelete table inet fw4\ntable inet fw4 {{\n\tinclude "{include}"\n}}\n')
    run("ip", "netns", "exec", ns, "nft", "-f", str(fw4))
    before = include.read_text()
    env_run = ["ip", "netns", "exec", ns, "env", f"DNSFILTER_FW4_INCLUDE={include}", sys.executable, "-m",
               "dnsfilter", "firewall", "refresh", "-c", str(cfg)]
    out = subprocess.run(env_run, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr

    def fw4_set() -> str:
        return run("ip", "netns", "exec", ns, "nft", "list", "set", "inet", "fw4", "dnsfilter_doh4").stdout

    assert "192.0.2.10" in fw4_set() and include.read_text() != before and "192.0.2.10" in include.read_text()
    # a fw4 reload (the include read again) keeps the refreshed addresses
    run("ip", "netns", "exec", ns, "nft", "-f", str(fw4))
    assert "192.0.2.10" in fw4_set()
    assert "dnsfilter" not in run("ip", "netns", "exec", ns, "nft", "list", "tables").stdout.replace("fw4", "")
