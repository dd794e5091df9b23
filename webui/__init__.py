"""The dnsfilter web UI: a Flask application factory and its blueprints (auth, pages, api).

The UI talks to the daemon only through the config file (edited with comments kept), the
runtime store (`data_dir/dnsfilter.db`), the family's records (`state_dir/family.db`) and the
control socket, so it can run in its own
process and a slow page never delays a DNS answer.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webui import deferred

# Flask without ssl: werkzeug's dev server and http.client then leave out their HTTPS parts,
# which the UI never uses (it serves plain HTTP under waitress), and the UI's process does not
# load the ssl module and libssl (shell/tlsload.py), nor libcrypto for hashes; what Flask
# imports for its development server and CLI plugins waits for a first use (webui/deferred.py).
with deferred.lean_imports():
    from flask import (
        Flask,
        Response,
        current_app,
        g,
        jsonify,
        redirect,
        render_template,
        request,
        session,
        url_for,
    )
    from flask_babel import Babel
    from flask_babel import gettext as _
    from werkzeug.exceptions import HTTPException
    from werkzeug.wrappers import Response as BaseResponse  # what redirect() returns; flask's Response is one

from dnsfilter import config as config_mod
from dnsfilter.config import Config, ConfigError
from webui.secrets_store import SecretsStore
from webui.security import SessionInterface, Throttle, add_headers, csrf_ok, csrf_token

log = logging.getLogger("dnsfilter.webui")
LANGUAGES = {"en": "English", "ru": "Русский", "kk": "Қазақша"}
PUBLIC = {"auth.setup", "auth.login", "auth.language", "static", "api.openapi_document"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(slots=True)
class WebState:
    config_path: Path
    data_dir: Path
    secrets: SecretsStore
    throttle: Throttle
    state_dir: Path  # [storage] state_dir: the account, notification addresses (flash on a router)


def state() -> WebState:
    return current_app.extensions["dnsfilter"]  # type: ignore[no-any-return]


def load_config() -> Config:
    return config_mod.load(state().config_path)


def _dirs(config_path: Path) -> tuple[Path, Path]:
    """data_dir and state_dir even when the config has a mistake (the UI must still start to
    fix it: then the raw [storage] keys, else the defaults)."""
    try:
        cfg = config_mod.load(config_path)
        return cfg.data_path(), cfg.state_path()
    except ConfigError:
        pass
    import tomllib

    try:
        storage = tomllib.loads(config_path.read_text(encoding="utf-8")).get("storage", {})
        data = config_path.parent / str(storage.get("data_dir", "var"))
        state = storage.get("state_dir") or ""
        return data.resolve(), (config_path.parent / str(state)).resolve() if state else data.resolve()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
        data = (config_path.parent / "var").resolve()
        return data, data


def create_app(config_path: str, *, testing: bool = False) -> Flask:
    path = Path(config_path).resolve()
    data_dir, state_dir = _dirs(path)
    from dnsfilter.storage.state_dir import settle

    settle(data_dir, state_dir)
    secrets = SecretsStore(state_dir / "webui")
    app = Flask(__name__)
    app.session_interface = SessionInterface()
    app.config.update(
        TESTING=testing,
        SECRET_KEY=secrets.session_key(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=False,  # set per request under HTTPS (SessionInterface)
        SESSION_COOKIE_NAME="dnsfilter_session",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        MAX_CONTENT_LENGTH=256 * 1024,  # forms and JSON are small; bound what a client can make us parse
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
    )
    app.extensions["dnsfilter"] = WebState(path, data_dir, secrets, Throttle(), state_dir)
    Babel(app, locale_selector=_locale)

    from webui import (  # noqa: F401  (their routes join the blueprints)
        api_log,
        api_requests,
        pages_feeds,
        pages_log,
        pages_requests,
        pages_time,
    )
    from webui.api import bp as api_bp
    from webui.auth import bp as auth_bp
    from webui.metrics import bp as metrics_bp
    from webui.pages import bp as pages_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(metrics_bp)
    app.before_request(_gate)
    app.after_request(add_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _internal_error)
    _cache_templates(app, data_dir / "webui" / "templates.cache")
    app.jinja_env.filters["isotime"] = lambda ts: _local(ts).isoformat(timespec="minutes")
    app.jinja_env.filters["localtime"] = lambda ts: _local(ts).strftime("%Y-%m-%d %H:%M")
    app.jinja_env.globals.update(csrf_token=csrf_token, LANGUAGES=LANGUAGES, current_language=_locale,
                                 **pages_requests.TEMPLATE_GLOBALS)
    return app


def _cache_templates(app: Flask, where: Path) -> None:
    """Keep the compiled templates in `where` (the UI's own folder in data_dir, mode 0700): a
    UI process started later loads them instead of compiling them again, which left the
    compiler's garbage in its heap (1.5 MB of the UI process, measured with
    scripts/bench_footprint.py's pages). Jinja checks each file against the template's source
    and the interpreter's version. Without a writable folder the UI compiles as before."""
    from jinja2 import FileSystemBytecodeCache

    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        if where.stat().st_uid != os.getuid() or where.stat().st_mode & 0o077:
            raise PermissionError(f"{where} is not the UI's own folder")  # others could plant code in it
    except OSError as e:
        log.warning("compiled templates are not kept: %s", e)
        return
    app.jinja_env.bytecode_cache = FileSystemBytecodeCache(str(where))


def _zone() -> Any:
    """[general].timezone, read once per request: every time a page shows is in it."""
    import zoneinfo

    if "zone" not in g:
        try:
            g.zone = zoneinfo.ZoneInfo(load_config().general.timezone)
        except (ConfigError, zoneinfo.ZoneInfoNotFoundError, ValueError):
            g.zone = dt.UTC
    return g.zone


def _local(ts: float | str) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(ts), _zone())


def _locale() -> str:
    lang = session.get("lang")
    if lang in LANGUAGES:
        return str(lang)
    best = request.accept_languages.best_match(list(LANGUAGES))
    if best:
        return best
    try:
        admin = state().secrets.admin()
    except RuntimeError:
        admin = None
    return admin.language if admin is not None else "en"


def is_api() -> bool:
    """JSON answers and API tokens: /api, and /metrics (a scraper sends a token, never a cookie)."""
    return request.blueprint in ("api", "metrics")


def _api_token() -> bool:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return False
    return state().secrets.check_token(auth[len("Bearer "):].strip()) is not None


def logged_in() -> bool:
    admin = state().secrets.admin()
    return (admin is not None and session.get("user") == "admin"
            and session.get("gen") == admin.generation)


def _deny(status: int, message: str) -> Response:
    if is_api():
        resp = jsonify(ok=False, error=message)
    else:
        resp = Response(render_template("error.html", message=message), mimetype="text/html")
    resp.status_code = status
    return resp


def _gate() -> BaseResponse | None:
    """Setup first, then CSRF on every state change, then login (session or API token)."""
    endpoint = request.endpoint or ""
    if endpoint == "static":
        return None
    if not state().secrets.is_set_up():
        if endpoint in PUBLIC - {"auth.login"}:
            return _csrf_check()
        if is_api():
            return _deny(503, _("Setup is not finished yet."))
        return redirect(url_for("auth.setup"))
    g.token = is_api() and _api_token()
    if g.token:
        return None  # a bearer token is not sent by browsers on their own: no CSRF risk
    refused = _csrf_check()
    if refused is not None or endpoint in PUBLIC:
        return refused
    if not logged_in():
        if is_api():
            return _deny(401, _("Please log in."))
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
    return None


def _csrf_check() -> Response | None:
    if request.method in UNSAFE and not csrf_ok():
        return _deny(400, _("This form has expired. Please reload the page and try again."))
    return None


def _http_error(e: HTTPException) -> Response:
    return _deny(e.code or 500, _("This page does not exist.") if e.code == 404 else
                 _("The request could not be handled."))


def _internal_error(e: Exception) -> Response:
    log.exception("web UI error on %s", request.path)  # details in the log, never to the user
    return _deny(500, _("Something went wrong. Please try again."))


def error_text(e: ConfigError) -> str:
    """A ConfigError in the page's language: where, in plain words, then why (webui/errortext.py)."""
    from webui.errortext import config_error_text  # imported when an error is shown, not at start-up

    return config_error_text(e, getattr(e, "item_names", None))


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}
