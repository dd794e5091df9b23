"""Running dnsfilter as another, unprivileged user (as Debian's service user runs it), for the
tests about files left by root in the state folder.

`setpriv` (util-linux) switches user and execs the interpreter, so the process a test signals
is dnsfilter itself. That user must be able to run an interpreter that imports the repository
and its dependencies: this one when its files are readable to all, else Debian's
/usr/bin/python3 with this environment's site-packages on PYTHONPATH (on a machine whose Python
lives under /root, which other users may not enter). Without either, or without root, the test
skips with the reason.
"""

from __future__ import annotations

import os
import pwd
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass

from tests.support.paths import REPO


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    python: list[str]  # the command that runs an interpreter as this user
    root_python: list[str]  # the same interpreter as root (a CLI that drops to the user can import later)
    env: dict[str, str]  # what the interpreter needs in its environment (PYTHONPATH)


def unprivileged(name: str = "nobody") -> User:
    """`name` (default nobody), with an interpreter it can run; pytest.skip when there is none."""
    import pytest

    if os.geteuid() != 0:
        pytest.skip("needs root to run dnsfilter as another user")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed (util-linux)")
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        pytest.skip(f"no user {name!r} on this machine")
    switch = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", "--"]
    paths = os.pathsep.join([str(REPO), *site.getsitepackages()])
    tried = []
    for exe, env in ((sys.executable, {}), ("/usr/bin/python3", {"PYTHONPATH": paths})):
        if not os.path.exists(exe):
            continue
        # the standard library root's run of it loads must be readable to the user too: a
        # command that drops to the user imports more of it afterwards
        stdlib = subprocess.run([exe, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                                capture_output=True, text=True, timeout=60).stdout.strip()
        probe = subprocess.run([*switch, exe, "-c", "import sys, dnsfilter.cli, feeds.sync, dnsfilter.shell.daemon; "
                                "open(sys.argv[1] + '/encodings/utf_8_sig.py').close()", stdlib],
                               capture_output=True, text=True, cwd="/", timeout=60,
                               env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **env})
        if probe.returncode == 0:
            return User(name, pw.pw_uid, pw.pw_gid, [*switch, exe], [exe],
                        {"PYTHONDONTWRITEBYTECODE": "1", **env})
        tried.append(f"{exe}: {probe.stderr.strip().splitlines()[-1:] or probe.returncode}")
    pytest.skip(f"no interpreter {name} can run with this repository: {'; '.join(tried)}")
