"""The commands of authority lists and managed routers as a user runs them: `audit show` and
`audit verify` (exit 1 on a broken chain, the torn line reported), and one-line errors with
exit 2 for bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dnsfilter.authority import audit
from tests.support.daemon import cli

pytestmark = pytest.mark.integration


def conf(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "config.toml"
    p.write_text(f'[storage]\ndata_dir = "var"\n[general]\ntimezone = "Asia/Almaty"\n{extra}')
    return p


def test_audit_show_and_verify(tmp_path: Path) -> None:
    p = conf(tmp_path)
    log = tmp_path / "var" / "audit.jsonl"
    for i in range(3):
        audit.append(log, "fetched", now=1_800_000_000.0 + 3600 * i, feed="gov", version=f"v{i}", entries=10 + i)
    done = cli("audit", "verify", "-c", str(p))
    assert done.returncode == 0 and "3 lines, chain intact" in done.stdout
    shown = cli("audit", "show", "-c", str(p)).stdout.splitlines()
    assert len(shown) == 3 and shown[0].startswith("2027-01-15T08:00:00.000Z #0 fetched: feed=gov version=v0")
    # --since in [general].timezone (UTC+5): 14:00 local is 09:00 UTC, after the first event
    recs = json.loads(cli("audit", "show", "-c", str(p), "--since", "2027-01-15T14:00", "--json").stdout)
    assert [r["version"] for r in recs] == ["v1", "v2"]
    text = log.read_bytes().replace(b'"entries":11', b'"entries":99')
    log.write_bytes(text)
    done = cli("audit", "verify", "-c", str(p))
    assert done.returncode == 1 and "BROKEN: line 3" in done.stdout and "CHAIN BROKEN" in done.stdout
    log.write_bytes(log.read_bytes().replace(b'"entries":99', b'"entries":11') + b'{"seq":3,"ev')
    done = cli("audit", "verify", "-c", str(p))
    assert done.returncode == 0 and "torn: line 4: the last line is torn" in done.stdout


@pytest.mark.parametrize(("args", "why"), [
    (["provider", "status"], "no [provider] section"),
    (["authority", "selftest", "--sample", "0"], "--sample"),
    (["authority", "selftest", "--server", "nowhere"], "--server"),
    (["audit", "show", "--since", "yesterday"], "--since"),
    (["authority", "selftest", "--all", "--sample", "3"], "not allowed with argument"),
])
def test_bad_arguments_get_one_line_and_exit_2(tmp_path: Path, args: list[str], why: str) -> None:
    p = conf(tmp_path, '[[feeds]]\nname = "g"\nurl = "g.txt"\ncategory = "authority"\n')
    done = cli(*args[:2], "-c", str(p), *args[2:])
    assert done.returncode == 2 and why in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
