"""The audit trail under kill -9: writers (bare appenders, and `dnsfilter feeds sync` of an
authority list, the real writer) killed with SIGKILL at random moments, several at once, never
leave a broken chain; every round's log still verifies, and the events all read back."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dnsfilter.authority import audit
from tests.support.daemon import REPO
from tests.support.feedserver import FeedServer, Route, names

pytestmark = pytest.mark.integration

WRITER = ("import sys,time;from pathlib import Path;from dnsfilter.authority import audit\n"
          "p=Path(sys.argv[1]);w=sys.argv[2]\n"
          "for i in range(100000):\n"
          "    audit.append(p,'fetched',feed=w,version=str(i),entries=i,note='x'*(i%300))\n")


def test_kill_9_of_concurrent_appenders_never_breaks_the_chain(tmp_path: Path) -> None:
    p = tmp_path / "audit.jsonl"
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for rnd in range(10):
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(p), f"w{k}"], cwd=REPO)
                 for k in range(3)]
        time.sleep(rng.uniform(0.2, 0.8))
        for proc in rng.sample(procs, len(procs)):
            proc.send_signal(signal.SIGKILL)
            time.sleep(rng.uniform(0.0, 0.02))
        for proc in procs:
            proc.wait(10)
        rep = audit.verify(p)
        assert rep.ok, f"seed {seed}, round {rnd}: {rep.problems}"
        assert not rep.torn, f"seed {seed}, round {rnd}: a kill tore a line: {rep.torn}"  # one write() a record
    recs = list(audit.records(p))
    assert len(recs) == rep.lines > 30 and [r["seq"] for r in recs] == list(range(len(recs)))
    print(f"seed {seed}: {rep.lines} events from 30 killed writers")


def test_kill_9_during_authority_syncs_keeps_the_chain(server: FeedServer, tmp_path: Path) -> None:
    versions = [names(f"v{i}-", 60_000) for i in range(2)]
    conf = tmp_path / "config.toml"
    conf.write_text(f'[storage]\ndata_dir = "var"\n[[feeds]]\nname = "gov"\nurl = "{server.url("/gov")}"\n'
                    'format = "domains"\ncategory = "authority"\nmax_shrink = 1.0\n')
    log = tmp_path / "var" / audit.FILE
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for i in range(10):
        server.routes["/gov"] = Route(versions[i % 2], etag=f'"{i % 2}"')
        proc = subprocess.Popen([sys.executable, "-m", "dnsfilter", "feeds", "sync", "-c", str(conf)], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        rep = audit.verify(log)
        assert rep.ok, f"seed {seed}, round {i}: {rep.problems}"
    done = subprocess.run([sys.executable, "-m", "dnsfilter", "feeds", "sync", "-c", str(conf)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    events = [r["event"] for r in audit.records(log)]
    assert audit.verify(log).ok and "fetched" in events
    print(f"seed {seed}: events {events}")
