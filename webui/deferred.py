"""Modules Flask imports at start-up for what this UI never does, loaded at their first use.

The UI is served by waitress and started by the daemon, so some of Flask's imports serve it
nothing: werkzeug's development server (`werkzeug.serving`: http.server, socketserver,
http.client, mimetypes, bz2, lzma), the package metadata `flask.cli` looks its plugins up in
(`importlib.metadata`: zipfile, csv, email's parser), Babel's date and number formatting (the
UI only translates) and difflib. Together about 2.2 MB of the UI process's heap after the
bench's pages (scripts/bench_footprint.py; docs/deploy.md, "Footprint"). `defer()`, called
before Flask is imported, puts a stand-in in their place; the first use of anything in them
(`flask run`, a CLI plugin lookup, Flask-Babel's `format_datetime`) imports the real module,
so nothing works differently, it only costs memory then. tests/webui/test_ui_process.py
checks that a real UI process serves the pages without them, and the first uses.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from dnsfilter.shell import tlsload

# module: the names other modules import from it at their own import (`from m import f`), all
# functions, so a forwarder can stand in for each until it is called. Any other name read
# from a stand-in imports the real module (so a new release of Flask or Babel that imports
# more from them only costs memory again: the UI process's test says so).
STAND_INS: dict[str, tuple[str, ...]] = {
    "werkzeug.serving": ("run_simple", "is_running_from_reloader"),  # werkzeug, flask.app, flask.cli
    "importlib.metadata": (),  # `import importlib.metadata` in flask.cli, used by its commands
    "difflib": (),  # `import difflib` in werkzeug.routing: suggestions for a URL that does not build
    # babel.support's formatters (flask_babel's format_* filters); the UI formats no dates or
    # numbers with Babel (webui/__init__.py's own filters), only translates
    "babel.dates": ("format_date", "format_datetime", "format_time", "format_timedelta"),
    "babel.numbers": ("format_compact_currency", "format_compact_decimal", "format_currency", "format_decimal",
                      "format_percent", "format_scientific"),
}

_lock = threading.RLock()


class StandIn(ModuleType):
    """In sys.modules for `name` until something uses it: then the real module is imported
    and takes its place; the names bound from the stand-in forward to it."""

    def __init__(self, name: str, functions: tuple[str, ...]) -> None:
        super().__init__(name, f"stands in for {name} until its first use (webui/deferred.py)")
        for fn in functions:
            setattr(self, fn, self._forwarder(fn))

    def _forwarder(self, fn: str) -> Callable[..., Any]:
        def forward(*args: Any, **kwargs: Any) -> Any:
            return getattr(self.real(), fn)(*args, **kwargs)

        forward.__name__ = forward.__qualname__ = fn
        return forward

    def real(self) -> ModuleType:
        with _lock:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            return importlib.import_module(self.__name__)

    def __getattr__(self, attr: str) -> Any:  # only for names the stand-in does not have
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self.real(), attr)


def defer() -> list[str]:
    """Put the stand-ins in place for the modules not imported yet; the names deferred."""
    done = []
    with _lock:
        for name, functions in STAND_INS.items():
            if name in sys.modules:
                continue
            stand_in = sys.modules[name] = StandIn(name, functions)
            # the package too, with the stand-in as its attribute: `import a.b` then `a.b.f()`
            parent, _, child = name.rpartition(".")
            if parent:
                package = importlib.import_module(parent)
                if getattr(package, child, None) is None:
                    setattr(package, child, stand_in)
            done.append(name)
    return done


@contextmanager
def lean_imports() -> Iterator[None]:
    """Imports inside (Flask's) leave out TLS, OpenSSL's hashes (tlsload: the login's scrypt
    runs in a child then, webui/secrets_store.py) and the modules deferred here. Where they
    are loaded already (the tests' process) it changes nothing."""
    tlsload.builtin_hashes()
    with tlsload.without_ssl():
        defer()  # imports werkzeug and babel, whose stand-ins are their attributes
        yield
