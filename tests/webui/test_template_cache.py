"""The UI keeps its compiled templates in data_dir (webui/__init__.py `_cache_templates`): a
UI process started later loads them rather than compiling again, and a folder others could
write to is never used."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from tests.webui.helpers import login
from webui import create_app


def _cache(config_path: Path) -> Path:
    return config_path.parent / "var" / "webui" / "templates.cache"


def _files(d: Path) -> dict[str, tuple[int, bytes]]:
    return {f.name: (f.stat().st_mtime_ns, f.read_bytes()) for f in d.iterdir()}


def test_a_later_ui_process_loads_the_compiled_templates(set_up: Flask, config_path: Path) -> None:
    c = set_up.test_client()
    login(c)
    first = c.get("/devices")
    assert first.status_code == 200
    d = _cache(config_path)
    assert d.stat().st_mode & 0o777 == 0o700
    kept = _files(d)
    assert len(kept) >= 2  # the page and the layout it extends
    again = create_app(str(config_path), testing=True).test_client()  # as the next UI process starts
    login(again)
    second = again.get("/devices")
    assert second.status_code == 200 and b"logout" in second.data.lower()
    assert _files(d) == kept  # loaded, not compiled and written again


def test_a_folder_others_can_write_is_not_used(config_path: Path) -> None:
    d = _cache(config_path)
    d.mkdir(parents=True)
    os.chmod(d, 0o777)
    app = create_app(str(config_path), testing=True)
    assert app.jinja_env.bytecode_cache is None
    assert app.test_client().get("/login").status_code in (200, 302)
    assert not any(d.iterdir())
