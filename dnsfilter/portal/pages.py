"""The child's page and the block page as HTML: phone first, no script, one inline style sheet,
every text through the page's language (i18n.py), every value escaped."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from dnsfilter.config.portal import Helpline
from dnsfilter.portal import words
from dnsfilter.portal.i18n import LANGS, NAMES, Translate, translator
from dnsfilter.portal.view import BlockView, DeviceView

ASK_PATH = "/_dnsfilter/ask"  # the forms' target on any host (a block page's host is the portal too)

CSS = """
*{box-sizing:border-box}body{margin:0;font:17px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1d2733;background:#f4f6fb}main{max-width:40rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;line-height:1.25;margin:.5rem 0 1rem}h2{font-size:1.15rem;margin:0 0 .5rem}
section{background:#fff;border-radius:14px;padding:1rem;margin:0 0 1rem;box-shadow:0 1px 3px #0002}
.hero{background:#2457a6;color:#fff}.hero p{margin:.25rem 0}.hero a{color:#fff}
.stop{background:#b3261e;color:#fff}.stop a{color:#fff}
.help{background:#e8f5e9;border:2px solid #2e7d32}.help a{color:#1b5e20;font-weight:700}
ul{margin:.25rem 0;padding-left:1.2rem}li{margin:.35rem 0}small,.muted{color:#55606e}
.hero small,.stop small{color:#e3e9f5}
.tel{display:block;font-size:1.6rem;font-weight:800;text-decoration:none}
label{display:block;margin:.5rem 0 .25rem;font-weight:600}
input[type=text],select{width:100%;font:inherit;padding:.6rem;border:2px solid #8a94a3;border-radius:10px}
button{font:inherit;font-weight:700;padding:.75rem 1.1rem;margin:.75rem 0 0;border:0;border-radius:12px;
background:#2457a6;color:#fff;min-height:48px;width:100%}
.langs{display:flex;gap:.5rem;justify-content:flex-end;flex-wrap:wrap;margin:.25rem 0}
.langs a{padding:.4rem .7rem;border-radius:999px;background:#fff;color:#2457a6;min-height:44px;
display:inline-flex;align-items:center}.langs a[aria-current]{background:#2457a6;color:#fff}
.bar{height:12px;border-radius:6px;background:#dfe4ee;overflow:hidden}.bar i{display:block;height:100%;
background:#2e7d32}.note{background:#fff8e1;border-left:6px solid #f9a825}.code{word-break:break-all}
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def shell(lang: str, title: str, body: str, here: str) -> str:
    """A whole page: the language links keep the page's path (`here`) and set the choice."""
    links = "".join(
        f'<a href="{_e(here)}?lang={code}" lang="{code}" hreflang="{code}"'
        f'{" aria-current=true" if code == lang else ""}>{_e(NAMES[code])}</a>' for code in LANGS)
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>"
            f'<nav class="langs" aria-label="{_e(translator(lang)("Language"))}">{links}</nav>{body}</main></body></html>')


def helplines(t: Translate, lang: str, lines: tuple[Helpline, ...], report_url: str) -> str:
    intro = t("If something online worries you, or someone hurts or frightens you, you can call. "
              "It is free and you do not have to give your name.")
    out = [f'<section class="help" aria-labelledby="help"><h2 id="help">{_e(t("Need to talk to someone?"))}</h2>',
           f"<p>{_e(intro)}</p>"]
    for h in lines:
        out.append(f'<p><a class="tel" href="tel:{_e(h.phone.replace(" ", ""))}">{_e(h.phone)}</a>'
                   f"{_e(h.name(lang))}"
                   + (f' · <a href="{_e(h.url)}">{_e(t("website"))}</a>' if h.url else "") + "</p>")
    if not lines:
        out.append(f"<p>{_e(t('Talk to a parent, a teacher or another adult you trust.'))}</p>")
    if report_url:
        hint = t("Saw something that should not be online? Tell the national hotline.")
        out.append(f'<p><a href="{_e(report_url)}">{_e(t("Report a harmful site"))}</a><br>'
                   f"<small>{_e(hint)}</small></p>")
    return "".join(out) + "</section>"


def _category(t: Translate, cat: str) -> str:
    what = words.CATEGORIES.get(cat)
    return t(what[0]) if what else cat


def _days(t: Translate, days: tuple[str, ...]) -> str:
    return ", ".join(t(words.DAYS.get(d, d)) for d in days)


def _items(t: Translate, items: tuple[str, ...], titles: dict[str, str] | None = None) -> str:
    """Categories in words, services by their titles."""
    return ", ".join(_category(t, i) if i in words.CATEGORIES else (titles or {}).get(i, i) for i in items)


def ask_form(t: Translate, token: str, name: str = "", kind: str = "site", item: str = "") -> str:
    """The ask form: a fixed site (the block page), a site to type (the child's page), or more
    time for a spent budget."""
    hidden = f'<input type="hidden" name="token" value="{_e(token)}"><input type="hidden" name="kind" value="{kind}">'
    if kind == "time":
        return (f'<form method="post" action="{ASK_PATH}">{hidden}<input type="hidden" name="name" value="{_e(item)}">'
                f'<input type="hidden" name="for" value="1h"><button type="submit">'
                f'{_e(t("Ask for more time"))}</button></form>')
    field = (f'<input type="hidden" name="name" value="{_e(name)}">' if name else
             f'<label for="ask-name">{_e(t("Site"))}</label>'
             f'<input type="text" id="ask-name" name="name" inputmode="url" autocomplete="off" '
             f'autocapitalize="none" spellcheck="false" maxlength="253" required placeholder="example.org">')
    options = "".join(f'<option value="{k}"{" selected" if k == "1h" else ""}>{_e(t(v))}</option>'
                      for k, v in words.DURATIONS.items())
    return (f'<form method="post" action="{ASK_PATH}">{hidden}{field}'
            f'<label for="ask-for">{_e(t("For how long?"))}</label><select id="ask-for" name="for">{options}</select>'
            f'<button type="submit">{_e(t("Ask a parent"))}</button></form>')


def child_page(v: DeviceView, lang: str, here: str, notice: str = "") -> str:
    t = translator(lang)
    hello = t("Hi! This is what this network does for {device}").format(device=v.label)
    parts = [f'<section class="hero"><h1>{_e(hello)}</h1>'
             f"<p>{_e(t('Your settings: {profile}').format(profile=v.profile))}</p></section>"]
    if notice:
        parts.append(f'<section class="note" role="status"><p>{_e(notice)}</p></section>')
    now = []
    if v.paused_until is not None:
        now.append(t("A parent paused the internet on this device until {time}.").format(time=v.clock(v.paused_until)))
    if v.resting == "all" and v.resting_until is not None:
        now.append(t("The internet is resting until {time}.").format(time=v.clock(v.resting_until)))
    elif v.resting and v.resting_until is not None:
        now.append(t("Resting until {time}: {what}.").format(time=v.clock(v.resting_until),
                                                            what=_items(t, tuple(v.resting), v.titles)))
    if now:
        parts.append('<section class="stop" aria-labelledby="now"><h2 id="now">' + _e(t("Right now")) + "</h2>"
                     + "".join(f"<p>{_e(x)}</p>" for x in now) + "</section>")
    # what is closed and why
    closed = [f"<li><strong>{_e(t(words.CATEGORIES[c][0]))}</strong><br><small>{_e(t(words.CATEGORIES[c][1]))}"
              "</small></li>" for c in v.categories if c in words.CATEGORIES]
    if v.services:
        closed.append(f"<li><strong>{_e(t('Closed apps and sites'))}</strong><br>"
                      f"<small>{_e(', '.join(v.services))}</small></li>")
    if v.safe_search:
        closed.append(f"<li><strong>{_e(t('Safe search'))}</strong><br>"
                      f"<small>{_e(t('Search engines and YouTube show results for children.'))}</small></li>")
    if v.allow_only:
        closed.append(f"<li><strong>{_e(t('Only your own list of sites opens'))}</strong><br>"
                      f"<small>{_e(', '.join(v.allow))}</small></li>")
    parts.append(f'<section aria-labelledby="closed"><h2 id="closed">{_e(t("What is closed, and why"))}</h2>'
                 + (f"<ul>{''.join(closed)}</ul>" if closed else f"<p>{_e(t('Nothing is closed on this device.'))}</p>")
                 + "</section>")
    if v.schedules:
        items = []
        for s in v.schedules:
            if s.block == "all":
                line = t("The internet rests from {start} to {end} ({days})")
            else:
                line = t("Resting from {start} to {end} ({days}): {what}")
            items.append("<li>" + _e(line.format(what=_items(t, tuple(s.block), v.titles), start=s.start,
                                                 end=s.end, days=_days(t, s.days))) + "</li>")
        parts.append(f'<section aria-labelledby="times"><h2 id="times">{_e(t("Rest times"))}</h2>'
                     f"<ul>{''.join(items)}</ul></section>")
    if v.budgets:
        rows = []
        for b in v.budgets:
            pct = 100 if b.limit == 0 else min(100, round(100 * b.used / b.limit))
            rows.append(f"<li><strong>{_e(_items(t, (b.item,), v.titles))}</strong>: "
                        + _e(t("{used} of {limit} minutes used, {left} left").format(used=b.used, limit=b.limit,
                                                                                     left=b.left))
                        + f'<div class="bar" role="img" aria-label="{pct}%"><i style="width:{100 - pct}%"></i></div>'
                        + (ask_form(t, v.token, kind="time", item=b.item) if b.left == 0 else "") + "</li>")
        parts.append(f'<section aria-labelledby="budgets"><h2 id="budgets">{_e(t("Time today"))}</h2>'
                     f"<ul>{''.join(rows)}</ul></section>")
    if v.allowed_now:
        rows = [f'<li class="code">{_e(n)} · ' + (_e(t("until {time}").format(time=v.clock(u))) if u is not None
                                                  else _e(t("always"))) + "</li>" for n, u in v.allowed_now]
        parts.append(f'<section aria-labelledby="allowed"><h2 id="allowed">{_e(t("Opened for you"))}</h2>'
                     f"<ul>{''.join(rows)}</ul></section>")
    parts.append(_recent(t, v))
    parts.append(f'<section aria-labelledby="ask"><h2 id="ask">{_e(t("Ask to open a site"))}</h2>'
                 f"<p><small>{_e(t('A parent gets your request and answers it from their phone.'))}</small></p>"
                 + ask_form(t, v.token) + _requests(t, v) + "</section>")
    https = t("Sites opened with https:// cannot show this page when they are closed: "
              "your browser shows an error instead. Come back here to see why.")
    parts.append(f'<section aria-labelledby="kept"><h2 id="kept">{_e(t("What is recorded about you"))}</h2>'
                 f"<p>{_e(t(words.PRIVACY.get(v.privacy, words.PRIVACY['full'])))}</p>"
                 f"<p><small>{_e(https)}</small></p></section>")
    parts.append(helplines(t, lang, v.helplines, v.report_url))
    return shell(lang, t("Your internet"), "".join(parts), here)


def _recent(t: Translate, v: DeviceView) -> str:
    head = f'<section aria-labelledby="recent"><h2 id="recent">{_e(t("Recently closed"))}</h2>'
    if v.recent is None:
        none = t("Site names are not recorded for this device, so none can be shown.")
        return head + f"<p><small>{_e(none)}</small></p></section>"
    if not v.recent:
        return head + f"<p><small>{_e(t('Nothing was closed lately.'))}</small></p></section>"
    rows = []
    for r in v.recent:
        why = t(words.REASONS[r.kind]) if r.kind in words.REASONS else _category(t, r.category or r.service)
        rows.append(f'<li><span class="code"><strong>{_e(r.name)}</strong></span> · {_e(v.clock(r.ts))}<br>'
                    f"<small>{_e(why)}</small></li>")
    return head + f"<ul>{''.join(rows)}</ul></section>"


def _requests(t: Translate, v: DeviceView) -> str:
    if not v.requests:
        return ""
    rows = []
    for r in v.requests:
        what = r.name if r.kind == "site" else t("more time: {item}").format(item=_items(t, (r.name,), v.titles))
        state = t(words.STATES.get(r.state, r.state))
        if r.state == "approved" and r.duration:
            state += " · " + t(words.DURATIONS.get(r.duration, r.duration))
        rows.append(f'<li><span class="code">{_e(what)}</span> · <strong>{_e(state)}</strong></li>')
    return f'<h2 style="margin-top:1rem">{_e(t("Your requests"))}</h2><ul>{"".join(rows)}</ul>'


def block_page(b: BlockView, v: DeviceView, lang: str, home: str, here: str) -> str:
    """The page a plain-HTTP visit to a closed site gets. `home` is the child's page's address."""
    t = translator(lang)
    if not b.blocked:
        wait = t("Your browser still remembers the old address. Wait a minute and open the site again.")
        body = (f'<section class="hero"><h1>{_e(t("This site is open for you now"))}</h1>'
                f'<p class="code">{_e(b.name)}</p><p>{_e(wait)}</p></section>')
        return shell(lang, b.name, body + helplines(t, lang, v.helplines, v.report_url), here)
    why = []
    if b.kind in words.REASONS:
        why.append(t(words.REASONS[b.kind]))
    if b.category in words.CATEGORIES and b.kind not in ("deny", "override", "pause", "schedule", "allow_only"):
        name, reason = words.CATEGORIES[b.category]
        why += [t(name) + ".", t(reason)]
    elif b.kind == "budget" and b.budget_item:
        why.append(_items(t, (b.budget_item,), v.titles))
    parts = [f'<section class="stop"><h1>{_e(t("This site is closed on this device"))}</h1>'
             f'<p class="code"><strong>{_e(b.name)}</strong></p>'
             + "".join(f"<p>{_e(w)}</p>" for w in why) + "</section>"]
    if b.authority:
        law = []
        if b.legal_basis:
            law.append(f"<p>{_e(t('Legal basis:'))} {_e(b.legal_basis)}</p>")
        appeal = t("A parent cannot open it. If you think it is closed by mistake, the site can be appealed:")
        law.append(f"<p><small>{_e(appeal)}</small></p>")
        if b.appeal_url:
            law.append(f'<p><a href="{_e(b.appeal_url)}">{_e(t("How to appeal"))}</a></p>')
        parts.append(f'<section aria-labelledby="law"><h2 id="law">{_e(t("Closed by law"))}</h2>{"".join(law)}</section>')
    elif b.kind == "budget" and b.budget_item:
        parts.append(f'<section aria-labelledby="ask"><h2 id="ask">{_e(t("Need more time?"))}</h2>'
                     + ask_form(t, v.token, kind="time", item=b.budget_item) + "</section>")
    else:
        parts.append(f'<section aria-labelledby="ask"><h2 id="ask">{_e(t("Think you need it?"))}</h2>'
                     f"<p><small>{_e(t('Ask a parent: they get your request on their phone.'))}</small></p>"
                     + ask_form(t, v.token, name=b.name) + "</section>")
    parts.append(f'<section><p><a href="{_e(home)}">{_e(t("See everything about your internet"))}</a></p></section>')
    parts.append(helplines(t, lang, v.helplines, v.report_url))
    return shell(lang, t("Closed: {name}").format(name=b.name), "".join(parts), here)


def simple_page(lang: str, title: str, text: str, here: str, link: tuple[str, str] | None = None) -> str:
    body = f'<section class="hero"><h1>{_e(title)}</h1><p>{_e(text)}</p>'
    if link is not None:
        body += f'<p><a href="{_e(link[0])}">{_e(link[1])}</a></p>'
    return shell(lang, title, body + "</section>", here)


def quote_host(host: str) -> str:
    return quote(host, safe=".-:[]")
