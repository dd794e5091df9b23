"""Server-rendered pages: Devices and Profiles. Every change goes through the config file
(`configfile.apply`) or the control socket, never the daemon's memory."""

from __future__ import annotations

import time
from typing import Any

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
from webui import (
    configfile,
    conflicts,
    control,
    edits,
    error_text,
    household_view,
    load_config,
    logview,
    overrides,
    protection,
    state,
    views,
)

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
    held = household_view.pauses(cfg)
    rows = views.devices(cfg)
    return render_template("devices.html", devices=rows, profiles=views.profile_names(cfg),
                           pause_minutes=PAUSE_MINUTES, messages=get_flashed_messages(with_categories=True),
                           paused={d.id: _paused_until(cfg, held, d) for d in rows},
                           quiet={d.id: household_view.quiet_now(cfg, d.profile) for d in rows})


def _paused_until(cfg: Any, held: dict[str, float], d: views.DeviceRow) -> tuple[str, str] | None:
    """(local end, "device" | "profile") of the pause that holds for this device, if any."""
    for target, kind in ((f"device:{d.id}", "device"), (f"profile:{d.profile}", "profile")):
        if target in held:
            return household_view.clock(held[target], cfg.general.timezone), kind
    return None


def _device(cfg: Any, device: str) -> views.DeviceRow | None:
    return next((d for d in views.devices(cfg) if d.id == device), None)


@bp.route("/devices/<mac>/profile", methods=["POST"])
def device_profile(mac: str) -> BaseResponse:
    """The device's profile and name (the name is what every page then shows)."""
    name = request.form.get("name", "").strip()[:64]
    try:
        edit = views.assign_edit(load_config(), mac, request.form.get("profile", ""), name)
        saved = configfile.apply(state().config_path, edit)
    except ConfigError as e:
        flash(_("Not saved: %(e)s", e=error_text(e)), "error")
    else:
        flash(_("Saved.") if saved.reloaded else _("Saved. The filter will use it when it next starts."), "ok")
    return redirect(url_for("pages.devices"))


@bp.route("/devices/<device>/forget", methods=["POST"])
def device_forget(device: str) -> BaseResponse:
    """Forget a device: its name and profile in the config, its record and rules in the store."""
    cfg = load_config()
    row = _device(cfg, device)
    if row is None:
        flash(_("Unknown device."), "error")
        return redirect(url_for("pages.devices"))
    try:
        configfile.apply(state().config_path, edits.forget_device(row.mac, row.ips[0] if len(row.ips) == 1 else None))
    except ConfigError as e:
        flash(_("Not saved: %(e)s", e=error_text(e)), "error")
        return redirect(url_for("pages.devices"))
    from dnsfilter.storage.store import open_devices

    store = open_devices(cfg)
    try:
        store.forget(row.id)
    finally:
        store.close()
    overrides.announce(cfg)
    flash(_("%(d)s was forgotten. If it uses the internet again, it comes back as a new device.", d=row.name), "ok")
    return redirect(url_for("pages.devices"))


@bp.route("/devices/<device>/pause", methods=["POST"])
def device_pause(device: str) -> BaseResponse:
    cfg = load_config()
    row = _device(cfg, device)
    minutes = request.form.get("minutes", "")
    if row is None:
        flash(_("Unknown device."), "error")
    elif not minutes.isdigit() or int(minutes) not in PAUSE_MINUTES:
        flash(_("Choose how long to pause."), "error")
    else:
        reply = control.send(state().data_dir / "control.sock", f"pause device:{row.id} {int(minutes)}")
        until = household_view.clock(time.time() + int(minutes) * 60, cfg.general.timezone)
        flash(_("The internet is paused on %(d)s until %(t)s.", d=row.name, t=until) if reply.ok
              else _("Not done: %(m)s", m=reply.reason), "ok" if reply.ok else "error")
    return redirect(url_for("pages.devices"))


@bp.route("/devices/<device>/resume", methods=["POST"])
def device_resume(device: str) -> BaseResponse:
    """Resume a device; when it was not paused, say so, and what blocks it instead if anything."""
    cfg = load_config()
    row = _device(cfg, device)
    if row is None:
        flash(_("Unknown device."), "error")
        return redirect(url_for("pages.devices"))
    held = household_view.pauses(cfg)
    if f"device:{row.id}" in held:
        reply = control.send(state().data_dir / "control.sock", f"resume device:{row.id}")
        flash(_("The internet is back on for %(d)s.", d=row.name) if reply.ok else
              _("Not done: %(m)s", m=reply.reason), "ok" if reply.ok else "error")
    elif f"profile:{row.profile}" in held:
        flash(_("%(d)s is not paused on its own: the whole profile %(p)s is paused until %(t)s. Resume the "
                "profile on its page.", d=row.name, p=row.profile,
                t=household_view.clock(held[f"profile:{row.profile}"], cfg.general.timezone)), "error")
    else:
        flash(_("%(d)s was not paused.", d=row.name), "error")
    quiet = household_view.quiet_now(cfg, row.profile)
    if quiet is not None:
        flash(_("Quiet hours (%(q)s) of the profile %(p)s block it until %(t)s.", q=quiet.name, p=row.profile,
                t=quiet.until), "error")
    return redirect(url_for("pages.devices"))


@bp.route("/profiles/<name>/pause", methods=["POST"])
def profile_pause(name: str) -> BaseResponse:
    """Pause (minutes) or resume (no minutes) every device of a profile."""
    cfg = load_config()
    if name not in {p.name for p in cfg.profiles}:
        return Response(render_template("error.html", message=_("This page does not exist.")), status=404)
    minutes = request.form.get("minutes", "")
    sock = state().data_dir / "control.sock"
    if request.form.get("action") == "resume":
        if f"profile:{name}" not in household_view.pauses(cfg):
            flash(_("The profile %(p)s was not paused.", p=name), "error")
        else:
            reply = control.send(sock, f"resume profile:{name}")
            flash(_("The internet is back on for the profile %(p)s.", p=name) if reply.ok else
                  _("Not done: %(m)s", m=reply.reason), "ok" if reply.ok else "error")
    elif not minutes.isdigit() or int(minutes) not in PAUSE_MINUTES:
        flash(_("Choose how long to pause."), "error")
    else:
        reply = control.send(sock, f"pause profile:{name} {int(minutes)}")
        until = household_view.clock(time.time() + int(minutes) * 60, cfg.general.timezone)
        flash(_("The internet is paused for every device of the profile %(p)s until %(t)s.", p=name, t=until)
              if reply.ok else _("Not done: %(m)s", m=reply.reason), "ok" if reply.ok else "error")
    return redirect(url_for("pages.profile", name=name))


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
            "privacy": f.get("privacy", prof.privacy),
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
                     "block_bypass": prof.block_bypass, "privacy": prof.privacy}
    states = {st.category: st for st in protection.profile_states(cfg, name)}
    find = request.args.get("find", "")[:40]
    groups = views.services_by_group(find)
    shown_ids = {sid for _g, _t, items in groups for sid, _title in items}
    return Response(render_template("profile.html", name=name, form=shown, errors=errors, notice=notice,
                                    categories=views.TOGGLE_CATEGORIES, category_name=views.CATEGORY_NAME,
                                    category_text=views.CATEGORY_TEXT, service_groups=groups, find=find,
                                    hidden_services=[s for s in list(shown["block_services"])  # type: ignore[call-overload]
                                                     if s not in shown_ids],
                                    states=states, words=protection.words, prefix=protection.prefix, temporary=overrides.active(cfg, name),
                                    conflicts=conflicts.of_profile(cfg, name, _labels()),
                                    privacy_text=logview.PRIVACY_TEXT, log_days=cfg.storage.log_days,
                                    pause_minutes=PAUSE_MINUTES,
                                    paused_until=(lambda held: household_view.clock(held[f"profile:{name}"],
                                                                                    cfg.general.timezone)
                                                  if f"profile:{name}" in held else None)(household_view.pauses(cfg)),
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


def _labels() -> dict[str, str]:
    return dict(views.item_choices())


@bp.route("/welcome")
def welcome() -> Response:
    """Setup's summary: what each chosen category is blocked with, and whether it works yet.
    While a list is still downloading it offers "Check again" (no timed reload: WCAG 2.2.1)."""
    cfg = load_config()
    names = [p.name for p in cfg.profiles] or [cfg.defaults.profile]
    summary = [(n, protection.profile_states(cfg, n)) for n in names]
    pending = any(st.state == "pending" for _n, sts in summary for st in sts)
    return Response(render_template("welcome.html", summary=summary, pending=pending, words=protection.words,
                                    prefix=protection.prefix,
                                    category_name=views.CATEGORY_NAME))
