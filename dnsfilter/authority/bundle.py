"""The provider's bundle: fetch (conditional GET), verify, check, accept — in the sync child
(`dnsfilter provider sync`, run by the daemon every `[provider] interval`).

A bundle is accepted only when
- its minisign signature (`BUNDLE_URL.minisig`) verifies against `[provider] public_key`;
- its `serial` is above the last accepted one (an old signed bundle cannot be replayed);
- the household's file merged on top of it passes `config check`.
Otherwise the last good bundle stays, and `state.json` in the provider folder (read by `dnsfilter
provider status`, the metrics and the web UI) says why. Every accepted or refused bundle is an
event in the audit log; `bundle_effective` is written by the daemon once it runs the merged config.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import tomllib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnsfilter import config as config_mod
from dnsfilter.authority import audit
from dnsfilter.config import Config, ConfigError
from dnsfilter.config.provider import MAX_BUNDLE, Provider, bundle_path, check_bundle
from dnsfilter.config.values import read_text

if TYPE_CHECKING:
    import requests

FETCH_DEFAULTS: dict[str, Any] = {"connect_timeout": 10.0, "read_timeout": 30.0, "retries": 2, "backoff": 2.0}
# Why a bundle was refused, as the metric's label says it (the detail is in `last_error`)
KINDS = ("fetch", "signature", "replay", "format", "config", "storage")


@dataclass
class BundleState:
    serial: int = 0  # of the bundle in force
    key_id: str = ""  # the minisign key that signed it
    sha256: str = ""
    source: str = ""  # the bundle URL, without credentials or query
    locked: list[str] = field(default_factory=list)
    last_check: float = 0.0
    last_success: float = 0.0  # the last check that left the bundle up to date (a 304 counts)
    last_change: float = 0.0  # when the bundle in force was accepted
    result: str = ""  # new | unchanged | failed | rejected
    last_error: str = ""
    error_kind: str = ""  # one of KINDS when last_error is set
    rejected_serial: int = 0  # the serial of the last bundle refused (0: unknown or none)
    etag: str | None = None
    last_modified: str | None = None

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("etag")
        d.pop("last_modified")
        return d


class Rejected(Exception):
    def __init__(self, kind: str, why: str, serial: int = 0) -> None:
        super().__init__(why)
        self.kind, self.why, self.serial = kind, why, serial


def state_path(directory: Path) -> Path:
    """The state file in the provider's folder (Config.provider_dir)."""
    return directory / "state.json"


def read_state(directory: Path) -> BundleState:
    try:
        data = json.loads(state_path(directory).read_text())
        known = {f.name for f in fields(BundleState)}
        return BundleState(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError):
        return BundleState()


def _write_state(directory: Path, st: BundleState) -> None:
    _atomic(state_path(directory), json.dumps(asdict(st), indent=1).encode())


def _atomic(path: Path, data: bytes) -> None:
    from feeds.compile_rules import write_atomic

    write_atomic(path, data)  # fsynced, renamed, the rename made durable


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory / "bundle.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _session(prov: Provider, base: Path) -> requests.Session:
    import requests

    s = requests.Session()
    if prov.ca_file:
        # the provider's CA, even where REQUESTS_CA_BUNDLE is set (requests lets the environment
        # override session.verify, but not a value given with the request)
        merge = s.merge_environment_settings
        ca = str(base / prov.ca_file)  # relative to the config file's folder

        def settings(url: str, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
            return merge(url, proxies, stream, ca if verify in (None, True) else verify, cert)

        s.merge_environment_settings = settings  # type: ignore[method-assign]
    return s


def sync_bundle(cfg: Config, *, now: float | None = None, session: requests.Session | None = None,
                fetch_options: dict[str, Any] | None = None) -> BundleState:
    """Bring the bundle up to date. Never raises for bundle problems: the returned (and saved)
    state says what happened, and the last good bundle stays in force."""
    from feeds.files import safe_url
    from feeds.sources import fetch

    assert cfg.provider is not None
    prov, directory = cfg.provider, cfg.provider_dir()
    directory.mkdir(parents=True, exist_ok=True)
    log = cfg.audit_path()
    own = session is None
    sess = session or _session(prov, Path(cfg.path).parent)
    opts = {**FETCH_DEFAULTS, **(fetch_options or {}), "session": sess, "max_bytes": MAX_BUNDLE}
    try:
        with _locked(directory):
            st = read_state(directory)
            st.last_check = time.time() if now is None else now
            st.source = safe_url(prov.bundle_url)
            before = st.last_error
            src = directory / "bundle.src"
            trust = bool(st.serial) and not st.last_error and bundle_path(directory).exists()
            try:
                r = fetch(prov.bundle_url, src, etag=st.etag if trust else None,
                          last_modified=st.last_modified if trust else None, **opts)
                if r.status == "failed" or r.path is None:
                    raise Rejected("fetch", f"{r.error or 'nothing downloaded'}; keeping the bundle in force")
                if r.status == "unchanged" and trust:
                    st.result, st.last_error, st.error_kind, st.last_success = "unchanged", "", "", st.last_check
                    st.etag, st.last_modified = r.etag, r.last_modified
                    return st
                got = _accept(cfg, prov, src, st, fetch, opts)
                if got is None:  # the very bundle in force, fetched again without validators
                    st.result, st.last_error, st.error_kind, st.last_success = "unchanged", "", "", st.last_check
                else:
                    audit.append(log, "bundle_fetched", url=st.source, serial=got["serial"], key_id=got["key_id"],
                                 sha256=got["sha256"], locked=got["locked"], previous_serial=st.serial)
                    _atomic(bundle_path(directory), src.read_bytes())
                    st.serial, st.key_id, st.sha256, st.locked = got["serial"], got["key_id"], got["sha256"], got["locked"]
                    st.result, st.last_error, st.error_kind, st.rejected_serial = "new", "", "", 0
                    st.last_success = st.last_change = st.last_check
                st.etag, st.last_modified = r.etag, r.last_modified
                return st
            except Rejected as e:
                st.result = "failed" if e.kind == "fetch" else "rejected"
                st.last_error, st.error_kind, st.rejected_serial = e.why[:500], e.kind, e.serial
                if st.last_error != before:
                    with contextlib.suppress(OSError):
                        audit.append(log, "bundle_rejected", url=st.source, kind=e.kind, reason=st.last_error,
                                     serial=e.serial, serial_in_force=st.serial)
                return st
            finally:
                _write_state(directory, st)
    finally:
        if own:
            sess.close()


def _accept(cfg: Config, prov: Provider, src: Path, st: BundleState, fetch: Any,
            opts: dict[str, Any]) -> dict[str, Any] | None:
    """The checks, in order; the accepted bundle's facts, None when it is the one in force.
    Raises Rejected saying why."""
    from feeds.authority import source_sha256
    from feeds.minisign import verify_minisign

    sha = source_sha256(src)
    if st.serial and sha == st.sha256 and bundle_path(cfg.provider_dir()).exists():
        return None
    sig = fetch(prov.signature_url, src.with_name("bundle.src.minisig"), **{**opts, "max_bytes": 16 << 10})
    if sig.status == "failed" or sig.path is None:
        raise Rejected("fetch", f"cannot fetch the signature: {sig.error}; keeping the bundle in force")
    try:
        key_id = verify_minisign(src, sig.path.read_text(encoding="utf-8", errors="replace"), prov.public_key)
    except ValueError as e:
        raise Rejected("signature", f"{e}; keeping the bundle in force") from None
    try:
        data = tomllib.loads(src.read_bytes().decode("utf-8"))
        serial, locked = check_bundle(data)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise Rejected("format", f"the bundle is not valid TOML: {e}; keeping the bundle in force") from None
    except ConfigError as e:
        raise Rejected("format", f"{e}; keeping the bundle in force",
                       data.get("serial", 0) if isinstance(data.get("serial"), int) else 0) from None
    if serial <= st.serial:
        raise Rejected("replay", f"serial {serial} is not above {st.serial}, the last accepted (an old bundle "
                                 "replayed?); keeping the bundle in force", serial)
    try:
        household = tomllib.loads(read_text(Path(cfg.path)))
        config_mod.from_dict(household, cfg.path, bundle=data)
    except (ConfigError, tomllib.TOMLDecodeError) as e:
        raise Rejected("config", f"with this bundle the config fails `config check`: {e}; keeping the bundle "
                                 "in force", serial) from None
    return {"serial": serial, "key_id": key_id, "sha256": sha, "locked": list(locked)}


def effective(log: Path, serial: int, locked: tuple[str, ...], refused: tuple[tuple[str, str], ...]) -> None:
    """The daemon runs a config merged under bundle `serial` (written after the swap)."""
    audit.append(log, "bundle_effective", serial=serial, locked=list(locked),
                 refused=[k for k, _why in refused])
