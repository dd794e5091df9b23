"""Server-rendered pages: Devices and Profiles. Every change goes through the config file
(`configfile.apply`) or the control socket, never the daemon's memory."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from dnsfilter.config import ConfigError
from webui import configfile, control, edits, error_text, load_config, overrides, protection, state, views

bp = Blueprint("pages", __name__)
PAUSE_MINUTES = (30, 60, 120)


@bp.errorhandler(ConfigError)
def _broken_config(e: ConfigError) -> Response:
    """The file was broken by hand (edits from here are validated first): say what is wrong."""
    return Response(render_template("error.html", message=_("The config file has a mistake: %(e)s", e=error_text(e))),
                    status=500)


@bp.route("/devices")
def devices() -> Response | str:
    cfg = load_config()
    return render_template("devices.html", devices=views.devices(cfg), profiles=views.profile_names(cfg),
                           pause_minutes=PAUSE_MINUTES, messages=get_flashed_messages(with_categories=True))


@bp.route("/devices/<mac>/profile", methods=["POST"])
def device_profile(mac: str) -> BaseResponse:
    try:
        edit = views.assign_edit(load_config(), mac, request.form.get("profile", ""),
                                 request.form.get("name", "")[:64])
        saved = configfile.apply(state().config_path, edit)
    except ConfigError as e:
        flash(_("Not saved: %(e)s", e=error_text(e)), "error")
    else:
        flash(_("Saved.") if saved.reloaded else _("Saved. The filter will use it when it next starts."), "ok")
    return redirect(url_for("pages.devices"))


def _pause_target(device: str) -> str | None:
    cfg = load_config()
    known = {d.id for d in views.devices(cfg)}
    return f"device:{device}" if device in known else None


@bp.route("/devices/<device>/pause", methods=["POST"])
def device_pause(device: str) -> BaseResponse:
    target = _pause_target(device)
    minutes = request.form.get("minutes", "")
    if target is None:
        flash(_("Unknown device."), "error")
    elif not minutes.isdigit() or int(minutes) not in PAUSE_MINUTES:
        flash(_("Choose how long to pause."), "error")
    else:
        reply = control.send(state().data_dir / "control.sock", f"pause {target} {int(minutes)}")
        flash(_("Internet paused.") if reply.ok else _("Not done: %(m)s", m=reply.reason),
              "ok" if reply.ok else "error")
    return redirect(url_for("pages.devices"))


@bp.route("/devices/<device>/resume", methods=["POST"])
def device_resume(device: str) -> BaseResponse:
    target = _pause_target(device)
    if target is None:
        flash(_("Unknown device."), "error")
    else:
        reply = control.send(state().data_dir / "control.sock", f"resume {target}")
        flash(_("Internet is back on.") if reply.ok else _("Not done: %(m)s", m=reply.reason),
              "ok" if reply.ok else "error")
    return redirect(url_for("pages.devices"))


@bp.route("/profiles", methods=["GET", "POST"])
def profiles() -> BaseResponse:
    load_config()  # a broken file shows its mistake before any form
    errors: dict[str, str] = {}
    if request.method == "POST":
        name = request.form.get("name", "")
        try:
            configfile.apply(state().config_path, protection.chain(edits.add_profile(name),
                                                                    protection.ensure_lists(name.strip(), [])))
        except ConfigError as e:
            errors["name"] = error_text(e)
        else:
            return redirect(url_for("pages.profile", name=name.strip()))
    return Response(render_template("profiles.html", profiles=views.profile_names(load_config()), errors=errors),
                    status=400 if errors else 200)


@bp.route("/profiles/<name>", methods=["GET", "POST"])
def profile(name: str) -> Response | str:
    cfg = load_config()
    prof = next((p for p in cfg.profiles if p.name == name), None)
    if prof is None:
        return Response(render_template("error.html", message=_("This page does not exist.")), status=404)
    errors: dict[str, str] = {}
    form = None
    notice = None
    if request.method == "POST":
        f = request.form
        form = {
            "block_categories": [c for c in views.TOGGLE_CATEGORIES if f.get(f"cat_{c}")],
            "block_services": [s for s in f.getlist("service")],
            "allow": edits.parse_names(f.get("allow", "")),
            "deny": edits.parse_names(f.get("deny", "")),
            "safe_search": bool(f.get("safe_search")),
            "block_bypass": bool(f.get("block_bypass")),
        }
        added: list[protection.CatalogEntry] = []
        try:
            saved = configfile.apply(state().config_path, protection.chain(
                edits.update_profile(name, form), protection.ensure_lists(name, added)))
        except ConfigError as e:
            errors[views.field_of(e.key)] = error_text(e)
        else:
            prof = next(p for p in saved.config.profiles if p.name == name)
            cfg = saved.config
            form = None
            notice = _("Saved.") if saved.reloaded else _("Saved. The filter will use it when it next starts.")
            if added:
                notice = Markup("{} {}").format(notice, protection.added_words(added))
    cats = prof.block_categories if prof.block_categories is not None else cfg.defaults.block_categories
    shown = form or {"block_categories": list(cats), "block_services": list(prof.block_services),
                     "allow": list(prof.allow), "deny": list(prof.deny), "safe_search": prof.safe_search,
                     "block_bypass": prof.block_bypass}
    states = {st.category: st for st in protection.profile_states(cfg, name)}
    return Response(render_template("profile.html", name=name, form=shown, errors=errors, notice=notice,
                                    categories=views.TOGGLE_CATEGORIES, category_name=views.CATEGORY_NAME,
                                    category_text=views.CATEGORY_TEXT, services=views.services(),
                                    states=states, words=protection.words, temporary=overrides.active(cfg, name),
                                    messages=get_flashed_messages(with_categories=True)),
                    status=400 if errors else 200)


@bp.route("/overrides/<int:ident>/end", methods=["POST"])
def override_end(ident: int) -> BaseResponse:
    """End an allow/block before its time ("End now" on the profile page)."""
    cfg = load_config()
    if overrides.end(cfg, ident):
        flash(_("The rule was removed."), "ok")
    else:
        flash(_("This rule had already ended."), "error")
    back = request.form.get("profile", "")
    known = {p.name for p in cfg.profiles}
    return redirect(url_for("pages.profile", name=back) if back in known else url_for("pages.profiles"))


@bp.route("/welcome")
def welcome() -> Response:
    """Setup's summary: what each chosen category is blocked with, and whether it works yet.
    While a list is still downloading the page reloads itself (no script)."""
    cfg = load_config()
    names = [p.name for p in cfg.profiles] or [cfg.defaults.profile]
    summary = [(n, protection.profile_states(cfg, n)) for n in names]
    pending = any(st.state == "pending" for _n, sts in summary for st in sts)
    return Response(render_template("welcome.html", summary=summary, pending=pending, words=protection.words,
                                    category_name=views.CATEGORY_NAME))
