"""Upstream failures, merging, reloads, signals, the CLI and hostile packets, against the
real daemon on loopback."""

from __future__ import annotations

import json
import random
import signal
import socket
import threading
import time

import dns.edns
import dns.message
import dns.query
import dns.rcode

from tests.support.daemon import REPO, addrs, cli, ede
from tests.support.scripted import Scripted


def test_dead_upstream_gives_servfail_not_nxdomain(make_daemon):
    with Scripted() as up:
        up.mode = "drop"
        d = make_daemon(up.addr)
        r = d.query("www.example.test", timeout=5)
        assert r.rcode() == dns.rcode.SERVFAIL
        assert ede(r)[0][0] == 23
    # an upstream that answers garbage or the wrong ID is no better
    for mode in ("garbage", "wrong_id", "servfail"):
        with Scripted(zone={"www.example.test": ["www.example.test. 60 A 192.0.2.1"]}) as up:
            up.mode = mode
            d.stop()
            d = make_daemon(up.addr)
            assert d.query("www.example.test", timeout=5).rcode() == dns.rcode.SERVFAIL, mode
    assert d.alive()


def test_serve_stale_when_upstream_dies(upstream, make_daemon):
    d = make_daemon(upstream.addr)
    assert addrs(d.query("short.example.test")) == ["192.0.2.11"]  # TTL 1
    upstream.mode = "drop"
    time.sleep(2.2)
    r = d.query("short.example.test", timeout=5)
    assert addrs(r) == ["192.0.2.11"]
    assert r.answer[0].ttl == 30
    assert ede(r)[0][0] == 3


def test_failover_to_second_upstream(upstream, make_daemon):
    with Scripted() as dead:
        dead.mode = "drop"
        d = make_daemon(f'{dead.addr}", "{upstream.addr}')
        for _ in range(3):
            assert addrs(d.query("www.example.test", timeout=5)) == ["192.0.2.10"]


def test_identical_questions_merged_and_ids_random(upstream, make_daemon):
    upstream.delay = 0.3
    d = make_daemon(upstream.addr)
    results: list[dns.message.Message] = []

    def ask() -> None:
        results.append(d.query("www.example.test", timeout=5))

    threads = [threading.Thread(target=ask) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 10 and all(addrs(r) == ["192.0.2.10"] for r in results)
    assert len(upstream.queries("www.example.test")) == 1
    upstream.delay = 0
    for i in range(20):
        d.query(f"n{i}.example.test")
    seen = [s for s in upstream.seen if s.transport == "udp"]
    ids = {s.record.header.id for s in seen}
    ports = {s.source[1] for s in seen}
    assert len(ids) >= len(seen) - 1
    # random ports of a few rotating sockets (16 slots: 21 queries land on about 12 of them)
    assert len(ports) >= 4 and upstream.port not in ports


def test_sighup_reload_applies_and_bad_config_is_kept(upstream, make_daemon):
    d = make_daemon(upstream.addr)
    assert addrs(d.query("www.example.test")) == ["192.0.2.10"]
    good = d.config_path.read_text()
    d.config_path.write_text(good + '\n[filter]\ndeny = ["www.example.test"]\n')
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and addrs(d.query("www.example.test")) != ["0.0.0.0"]:
        time.sleep(0.1)
    assert addrs(d.query("www.example.test")) == ["0.0.0.0"]
    # a broken config is rejected: the old one (with the deny rule) stays in force
    for broken in (good + "\n[dns.nonsense\n", good.replace("[dns]", '[dns]\nblock_mode = "bogus"')):
        d.config_path.write_text(broken)
        out = cli("ctl", "-c", str(d.config_path), "reload")
        assert out.returncode == 1 and "reload rejected" in out.stdout, out
        assert d.alive()
        assert addrs(d.query("www.example.test")) == ["0.0.0.0"]
    d.config_path.write_text(good)
    out = cli("ctl", "-c", str(d.config_path), "reload")
    assert out.returncode == 0, out
    assert addrs(d.query("www.example.test")) == ["192.0.2.10"]


def test_no_query_lost_during_reloads(upstream, make_daemon):
    d = make_daemon(upstream.addr)
    stop = threading.Event()
    failures: list[str] = []
    answered = 0

    def load() -> None:
        nonlocal answered
        deadline = time.monotonic() + 8
        while not stop.is_set() and time.monotonic() < deadline and answered < 3000:
            name = random.choice(["www.example.test", "ads.example.test", "localhost"])
            try:
                r = d.query(name, timeout=2)
                if r.rcode() != dns.rcode.NOERROR:
                    failures.append(f"{name}: {dns.rcode.to_text(r.rcode())}")
                answered += 1
            except Exception as e:
                failures.append(f"{name}: {e!r}")

    t = threading.Thread(target=load)
    t.start()
    for _ in range(5):
        time.sleep(0.3)
        d.signal(signal.SIGHUP)
    time.sleep(0.3)
    stop.set()
    t.join()
    assert answered > 50 and failures == []
    assert d.log().count("reloaded") >= 5


def test_sigterm_exits_cleanly(upstream, make_daemon):
    d = make_daemon(upstream.addr)
    d.query("www.example.test")
    assert d.stop() == 0
    assert "stopped" in d.log()


def test_malformed_packets_do_not_hurt(upstream, make_daemon):
    d = make_daemon(upstream.addr)
    good = dns.message.make_query("www.example.test", "A").to_wire()
    rng = random.Random(7)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.05)
        bad = [b"", b"\x00", good[:11], good[:15], good[:2] + b"\x81\x00" + good[4:],  # response bit set
               good[:2] + b"\x28\x00" + good[4:],  # opcode UPDATE
               good[:4] + b"\x00\x02" + good[6:],  # QDCOUNT 2
               good[:12] + b"\xc0\x0c" + good[-4:],  # compression loop in the question
               good[:12] + b"\x50abc" + good[-4:]]  # bad label type
        bad += [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 80))) for _ in range(300)]
        for pkt in bad:
            s.sendto(pkt, ("127.0.0.1", d.port))
        formerr = 0
        for _ in range(len(bad)):
            try:
                data = s.recv(4096)
                formerr += dns.message.from_wire(data, question_only=True).rcode() in (1, 4)
            except (TimeoutError, dns.exception.DNSException):
                pass
    assert formerr >= 3
    assert d.alive() and addrs(d.query("www.example.test")) == ["192.0.2.10"]
    # logging is rate-limited: a flood of junk leaves a few lines, not hundreds
    assert 1 <= d.log().count("malformed: ") <= 10
    # TCP garbage too
    with socket.create_connection(("127.0.0.1", d.port), timeout=2) as c:
        c.sendall(b"\x00\x05hello\xff\xff" + b"x" * 100)
    assert d.alive() and addrs(d.query("www.example.test", tcp=True)) == ["192.0.2.10"]


def test_check_cli_matches_daemon(upstream, make_daemon, tmp_path):
    d = make_daemon(upstream.addr, rest='[filter]\ndeny = ["bad.test"]\n', start=False)
    out = cli("check", "-c", str(d.config_path), "x.ads.example.test", "--json")
    assert out.returncode == 0, out.stderr
    j = json.loads(out.stdout)
    assert j["decision"] == "block" and j["category"] == "ads" and j["feed"] == "ads"
    assert j["rule"] == "ads.example.test" and j["profile"] == "Default"
    j = json.loads(cli("check", "-c", str(d.config_path), "bad.test", "--json").stdout)
    assert j["decision"] == "block" and j["rule"] == "bad.test"
    j = json.loads(cli("check", "-c", str(d.config_path), "www.example.test", "--json").stdout)
    assert j["decision"] == "allow"
    assert upstream.seen == []


def test_bad_config_and_arguments_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    cases = {
        '[dns]\nlisten = ["nope"]\n': "dns.listen[0]",
        '[dns]\nupstreams = ["tls://"]\n': "dns.upstreams[0]",
        '[dns]\nblock_mode = "pink"\n': "dns.block_mode",
        '[general]\ntimezone = "Mars/Base"\n': "general.timezone",
        '[[feeds]]\nname = "x"\nurl = "/x"\ncategory = "fun"\n': "feeds[0].category",
        "[dns\n": "not valid TOML",
        '[dns]\ncache_size = -1\n': "dns.cache_size",
        '[wat]\n': "wat: unknown section",
    }
    for text, key in cases.items():
        bad.write_text(text)
        for cmd in (["config", "check", "-c", str(bad)], ["serve", "-c", str(bad)]):
            out = cli(*cmd)
            assert out.returncode == 2, (text, out)
            assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1, out.stderr
            assert key in out.stderr and "Traceback" not in out.stderr
    for args in (["serve"], ["check", "-c", str(bad)], ["frobnicate"], ["check", "-c", "/nonexistent", "x.test"]):
        out = cli(*args)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_example_config_is_valid():
    out = cli("config", "check", "-c", str(REPO / "config.example.toml"))
    assert out.returncode == 0, out.stderr


def test_workers_share_the_port(upstream, make_daemon):
    d = make_daemon(upstream.addr, dns="workers = 2")
    deadline = time.monotonic() + 10
    while d.log().count("ready: answering on") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert d.log().count("ready: answering on") == 2
    for _ in range(20):
        assert addrs(d.query("www.example.test")) == ["192.0.2.10"]
        assert addrs(d.query("ads.example.test")) == ["0.0.0.0"]
    d.config_path.write_text(d.config_path.read_text() + '\n[filter]\ndeny = ["www.example.test"]\n')
    out = cli("ctl", "-c", str(d.config_path), "reload")
    assert out.returncode == 0, out
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and d.log().count("reloaded") < 2:
        time.sleep(0.05)
    assert all(addrs(d.query("www.example.test")) == ["0.0.0.0"] for _ in range(20))
    assert d.stop() == 0


def test_prefetch_refreshes_entries_still_in_use(make_daemon):
    with Scripted(zone={"pop.example.test": ["pop.example.test. 10 A 192.0.2.5"]}) as up:
        d = make_daemon(up.addr)
        assert addrs(d.query("pop.example.test")) == ["192.0.2.5"]
        time.sleep(9.2)  # into the last tenth of its 10 s life
        r = d.query("pop.example.test")
        assert addrs(r) == ["192.0.2.5"] and r.answer[0].ttl <= 1  # answered from the cache at once
        deadline = time.monotonic() + 2
        while len(up.queries("pop.example.test")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(up.queries("pop.example.test")) == 2  # ... and refreshed upstream meanwhile
        time.sleep(1.0)  # the first answer has expired by now; the prefetched one has not
        r = d.query("pop.example.test")
        assert r.answer[0].ttl >= 7
        assert len(up.queries("pop.example.test")) == 2


def test_tcp_connection_cap(upstream, make_daemon):
    d = make_daemon(upstream.addr, dns="tcp_max_connections = 2")
    held = [socket.create_connection(("127.0.0.1", d.port), timeout=3) for _ in range(2)]
    try:
        time.sleep(0.2)
        # over the cap: the connection idle the longest makes room (RFC 7766 §6.2.3; more cases
        # in test_hostile_tcp.py), so the new client is answered
        assert addrs(d.query("www.example.test", tcp=True)) == ["192.0.2.10"]
        assert held[0].recv(10) == b""
        held[0].close()
        time.sleep(0.2)
        assert addrs(d.query("www.example.test", tcp=True)) == ["192.0.2.10"]  # a freed slot is usable
    finally:
        for s in held:
            s.close()


def test_default_config_blocks_with_the_builtin_starter_list(tmp_path, server):
    """The shipped config.example.toml as it is, but for its addresses: the starter list blocks
    at once, and the lists behind its default categories (trackers, malware, phishing) are
    synced from the catalog right after start (here from a local mirror: `[catalog] mirror`),
    so that no chosen category is left "not enforced"."""
    from tests.support.daemon import DaemonProcess, free_port
    from tests.support.feedserver import Route

    for ident, name in (("blocklistproject-tracking", "tracker.example.test"),
                        ("hagezi-tif-medium", "malware.example.test"), ("hagezi-fake", "fake-shop.example.test")):
        server.routes[f"/{ident}"] = Route(f"# {ident}\n{name}\n".encode())
    text = (REPO / "config.example.toml").read_text()
    text = text.replace('listen = ["127.0.0.1:5353", "[::1]:5353"]', 'listen = ["127.0.0.1:{port}"]')
    text = text.replace('data_dir = "var"', f'data_dir = "{tmp_path / "var"}"')
    text = text.replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{free_port()}"')
    assert "\n[catalog]" not in text
    text += f'\n[catalog]\nmirror = "{server.base}"\n'
    d = DaemonProcess(tmp_path, text).start()
    try:
        # Only names answered locally are asked: the example's upstreams are public resolvers.
        r = d.query("ads.doubleclick.net")
        assert addrs(r) == ["0.0.0.0"] and ede(r) == [(15, "ads: on the list starter")]
        assert addrs(d.query("localhost")) == ["127.0.0.1"]
        deadline = time.monotonic() + 20
        while "reloaded: 4 feed(s)" not in d.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        r = d.query("tracker.example.test")
        assert addrs(r) == ["0.0.0.0"] and ede(r) == [(15, "trackers: on the list blocklistproject-tracking")]
        out = cli("check", "-c", str(d.config_path), "www.malware.example.test", "--json")
        verdict = json.loads(out.stdout)
        assert verdict["decision"] == "block" and verdict["not_enforced"] == [], verdict
        assert "web UI: http://127.0.0.1:" in d.log() and "setup code" in d.log()
    finally:
        assert d.stop() == 0
    assert sorted(p for p, _c in server.log) == ["/blocklistproject-tracking", "/hagezi-fake", "/hagezi-tif-medium"]


def test_check_says_when_a_chosen_category_has_no_list(tmp_path):
    """The first-hour bug: "Adult content" ticked with no adult list answered "allow: not on any
    list", as if the name had been checked. Now the reason says the category is not enforced."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[storage]\ndata_dir = "var"\n[[feeds]]\nname = "starter"\nurl = "builtin:starter"\n'
                   'format = "domains"\n[defaults]\nprofile = "Adults"\n[[profiles]]\nname = "Adults"\n'
                   'block_categories = []\n[[profiles]]\nname = "Kids"\nblock_categories = ["ads", "adult"]\n'
                   '[[devices]]\nip = "127.0.0.2"\nprofile = "Kids"\n')
    out = cli("check", "-c", str(cfg), "pornhub.com", "--client", "127.0.0.2")
    assert out.returncode == 0 and out.stdout.strip() == (
        "allow: pornhub.com for 127.0.0.2 (profile Kids): not on any list; not enforced: "
        "no list of category adult is active"), out.stdout + out.stderr
    verdict = json.loads(cli("check", "-c", str(cfg), "pornhub.com", "--client", "127.0.0.2", "--json").stdout)
    assert verdict["decision"] == "allow" and verdict["not_enforced"] == ["adult"]
    adults = json.loads(cli("check", "-c", str(cfg), "pornhub.com", "--json").stdout)
    assert adults["reason"] == "not on any list" and adults["not_enforced"] == []


def test_setup_code_for_installers(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[storage]\ndata_dir = "var"\n[web]\nlisten = "192.168.1.2:8080"\n')
    first = cli("setup-code", "-c", str(cfg))
    assert first.returncode == 0 and "enter it at http://192.168.1.2:8080/setup" in first.stdout, first.stderr
    code = first.stdout.split("setup code: ")[1].split()[0]
    assert len(code) == 11 and code.replace("-", "").isdigit()
    assert cli("setup-code", "-c", str(cfg)).stdout == first.stdout  # the same code until setup is done
    assert oct((tmp_path / "var" / "webui" / "setup-code").stat().st_mode & 0o777) == "0o600"
    (tmp_path / "var" / "webui" / "admin.json").write_text("{}")
    assert cli("setup-code", "-c", str(cfg)).stdout.startswith("setup is done")


def test_a_reload_that_changes_the_upstreams_asks_the_new_ones(make_daemon):
    """The UDP path's first attempts go through the Lane: a reload's new upstreams must reach
    it, and the old pool, closed a little later, must not turn every miss into SERVFAIL."""
    zone_a = {f"n{i}.example.test": [f"n{i}.example.test. 60 A 192.0.2.1"] for i in range(8)}
    zone_b = {f"n{i}.example.test": [f"n{i}.example.test. 60 A 192.0.2.2"] for i in range(8)}
    with Scripted(zone=zone_a) as a, Scripted(zone=zone_b) as b:
        d = make_daemon(a.addr)  # upstream_timeout = 0.5
        assert addrs(d.query("n0.example.test")) == ["192.0.2.1"]
        d.config_path.write_text(d.config_path.read_text().replace(a.addr, b.addr))
        out = cli("ctl", "-c", str(d.config_path), "reload")
        assert out.returncode == 0, out
        assert addrs(d.query("n1.example.test")) == ["192.0.2.2"]
        time.sleep(2.5)  # past 4 × upstream_timeout: the old pool is closed by now
        for i in range(2, 5):
            assert addrs(d.query(f"n{i}.example.test", timeout=5)) == ["192.0.2.2"]
