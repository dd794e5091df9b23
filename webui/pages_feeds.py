"""The Feeds page: lists from the catalog or a web address, on/off, "sync now" and status."""

from __future__ import annotations

from flask import Response, flash, get_flashed_messages, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from dnsfilter.config import ConfigError
from webui import configfile, error_text, feedsui, load_config, state, views
from webui.pages import bp


def _page(errors: dict[str, str], form: dict[str, str] | None = None) -> Response:
    cfg = load_config()
    return Response(render_template(
        "feeds.html", feeds=feedsui.rows(cfg), catalog=feedsui.catalog_choices(cfg), errors=errors,
        titles=feedsui.titles(cfg),
        form=form or {}, categories=views.CATEGORY_NAME, messages=get_flashed_messages(with_categories=True)),
        status=400 if errors else 200)


def _saved_message(saved: configfile.Saved) -> str:
    return _("Saved.") if saved.reloaded else _("Saved. The filter will use it when it next starts.")


@bp.route("/feeds", methods=["GET", "POST"])
def feeds() -> BaseResponse:
    if request.method == "GET":
        return _page({})
    f = request.form
    action = f.get("action", "")
    form = {k: f.get(k, "")[:2000] for k in ("catalog", "name", "url", "category")}
    try:
        if action == "catalog":
            edit = feedsui.add_catalog(form["catalog"])
        elif action == "custom":
            edit = feedsui.add_custom(form["name"], form["url"], form["category"])
        elif action in ("enable", "disable"):
            edit = feedsui.set_enabled(f.get("feed", ""), action == "enable", load_config())
        else:
            return _page({"form": _("The request could not be handled.")})
        saved = configfile.apply(state().config_path, edit)
    except ConfigError as e:
        field = views.field_of(e.key)
        return _page({field if field in form else "form": error_text(e)}, form)
    flash(_saved_message(saved), "ok")
    return redirect(url_for("pages.feeds"))


@bp.route("/feeds/<name>/sync", methods=["POST"])
def feed_sync(name: str) -> BaseResponse:
    cfg = load_config()
    try:
        result = feedsui.sync_now(state().config_path, cfg, name)
    except ConfigError as e:
        flash(error_text(e), "error")
    else:
        if not result.ok:
            flash(_("The list %(n)s could not be downloaded: %(e)s", n=name, e=result.output), "error")
        elif result.reloaded:
            flash(_("The list %(n)s was downloaded and is in use.", n=name), "ok")
        else:
            flash(_("The list %(n)s was downloaded. The filter will use it when it next starts.", n=name), "ok")
    return redirect(url_for("pages.feeds"))
