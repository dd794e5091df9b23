"""The child's page and the block page as HTML: phone first, no script, one inline style sheet,
every text through the page's language (i18n.py), every value escaped.

Texts are translated by `t("…")` calls outside f-strings (pybabel cannot see inside them);
`el()` puts escaped text and already-built HTML together.
"""

from __future__ import annotations

from html import escape

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
ul{margin:.25rem 0;padding-left:1.2rem}li{margin:.35rem 0}small{color:#4d5765}
.tel{display:block;font-size:1.6rem;font-weight:800;text-decoration:none}
label{display:block;margin:.5rem 0 .25rem;font-weight:600}
input[type=text],select{width:100%;font:inherit;padding:.6rem;border:2px solid #6b7684;border-radius:10px}
button{font:inherit;font-weight:700;padding:.75rem 1.1rem;margin:.75rem 0 0;border:0;border-radius:12px;
background:#2457a6;color:#fff;min-height:48px;width:100%}
.langs{display:flex;gap:.5rem;justify-content:flex-end;flex-wrap:wrap;margin:.25rem 0}
.langs a{padding:.4rem .7rem;border-radius:999px;background:#fff;color:#2457a6;min-height:44px;
display:inline-flex;align-items:center}.langs a[aria-current]{background:#2457a6;color:#fff}
.bar{height:12px;border-radius:6px;background:#dfe4ee;overflow:hidden;margin:.25rem 0}.bar i{display:block;
height:100%;background:#2e7d32}.note{background:#fff8e1;border-left:6px solid #f9a825}.name{word-break:break-all}
"""


def e(text: object) -> str:
    """Text as HTML."""
    return escape(str(text), quote=True)


def el(tag: str, *inner: str, **attrs: str) -> str:
    """An element around already-built HTML; attribute values are escaped (`class_` is class)."""
    a = "".join(f' {k.rstrip("_").replace("_", "-")}="{e(v)}"' for k, v in attrs.items())
    return f"<{tag}{a}>{''.join(inner)}</{tag}>"


def section(title: str, ident: str, *inner: str, cls: str = "") -> str:
    head = el("h2", e(title), id=ident)
    return el("section", head, *inner, class_=cls, aria_labelledby=ident) if cls else \
        el("section", head, *inner, aria_labelledby=ident)


def shell(lang: str, title: str, body: str, here: str) -> str:
    """A whole page: the language links keep the page's path (`here`) and set the choice."""
    t = translator(lang)
    links = "".join(
        f'<a href="{e(here)}?lang={code}" lang="{code}" hreflang="{code}"'
        f'{" aria-current=true" if code == lang else ""}>{e(NAMES[code])}</a>' for code in LANGS)
    nav = el("nav", links, class_="langs", aria_label=t("Language"))
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>{CSS}</style></head><body><main>{nav}{body}</main></body></html>")


def helplines(t: Translate, lang: str, lines: tuple[Helpline, ...], report_url: str) -> str:
    out = [el("p", e(t("If something online worries you, or someone hurts or frightens you, you can call. "
                       "It is free and you do not have to give your name.")))]
    for h in lines:
        site = " · " + el("a", e(t("website")), href=h.url) if h.url else ""
        out.append(el("p", el("a", e(h.phone), class_="tel", href="tel:" + h.phone.replace(" ", "")),
                      e(h.name(lang)), site))
    if not lines:
        out.append(el("p", e(t("Talk to a parent, a teacher or another adult you trust."))))
    if report_url:
        out.append(el("p", el("a", e(t("Report a harmful site")), href=report_url), "<br>",
                      el("small", e(t("Saw something that should not be online? Tell the national hotline.")))))
    return section(t("Need to talk to someone?"), "help", *out, cls="help")


def _category(t: Translate, cat: str) -> str:
    what = words.CATEGORIES.get(cat)
    return t(what[0]) if what else cat


def _days(t: Translate, days: tuple[str, ...]) -> str:
    return ", ".join(t(words.DAYS.get(d, d)) for d in days)


def items_text(t: Translate, items: tuple[str, ...], titles: dict[str, str] | None = None) -> str:
    """Categories in words, services by their titles."""
    return ", ".join(_category(t, i) if i in words.CATEGORIES else (titles or {}).get(i, i) for i in items)


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{name}" value="{e(value)}">'


def ask_form(t: Translate, token: str, name: str = "", kind: str = "site", item: str = "") -> str:
    """The ask form: a fixed site (the block page), a site to type (the child's page), or more
    time for a spent budget."""
    hidden = _hidden("token", token) + _hidden("kind", kind)
    if kind == "time":
        return el("form", hidden, _hidden("name", item), _hidden("for", "1h"),
                  el("button", e(t("Ask for more time")), type="submit"), method="post", action=ASK_PATH)
    if name:
        field = _hidden("name", name)
    else:
        field = el("label", e(t("Site")), for_="ask-name") + (
            '<input type="text" id="ask-name" name="name" inputmode="url" autocomplete="off" autocapitalize="none" '
            'spellcheck="false" maxlength="253" required placeholder="example.org">')
    options = "".join(el("option", e(t(v)), value=k, **({"selected": "selected"} if k == "1h" else {}))
                      for k, v in words.DURATIONS.items())
    return el("form", hidden, field, el("label", e(t("For how long?")), for_="ask-for"),
              el("select", options, id="ask-for", name="for"), el("button", e(t("Ask a parent")), type="submit"),
              method="post", action=ASK_PATH)


def child_page(v: DeviceView, lang: str, here: str, notice: str = "") -> str:
    t = translator(lang)
    parts = [el("section", el("h1", e(t("Hi! This is what this network does for {device}").format(device=v.label))),
                el("p", e(t("Your settings: {profile}").format(profile=v.profile))), class_="hero")]
    if notice:
        parts.append(el("section", el("p", e(notice)), class_="note", role="status"))
    now = []
    if v.paused_until is not None:
        now.append(t("A parent paused the internet on this device until {time}.").format(time=v.clock(v.paused_until)))
    if v.resting == "all" and v.resting_until is not None:
        now.append(t("The internet is resting until {time}.").format(time=v.clock(v.resting_until)))
    elif v.resting and v.resting_until is not None:
        now.append(t("Resting until {time}: {what}.").format(time=v.clock(v.resting_until),
                                                            what=items_text(t, tuple(v.resting), v.titles)))
    if now:
        parts.append(section(t("Right now"), "now", *(el("p", e(x)) for x in now), cls="stop"))
    parts.append(_closed(t, v))
    if v.schedules:
        rows = []
        for s in v.schedules:
            line = (t("The internet rests from {start} to {end} ({days})") if s.block == "all"
                    else t("Resting from {start} to {end} ({days}): {what}"))
            rows.append(el("li", e(line.format(what=items_text(t, tuple(s.block), v.titles), start=s.start, end=s.end,
                                               days=_days(t, s.days)))))
        parts.append(section(t("Rest times"), "times", el("ul", *rows)))
    if v.budgets:
        rows = []
        for b in v.budgets:
            left = 0 if b.limit == 0 else max(0, 100 - round(100 * b.used / b.limit))
            used = t("{used} of {limit} minutes used, {left} left").format(used=b.used, limit=b.limit, left=b.left)
            rows.append(el("li", el("strong", e(items_text(t, (b.item,), v.titles))), ": ", e(used),
                           el("div", f'<i style="width:{left}%"></i>', class_="bar", role="img",
                              aria_label=used),
                           ask_form(t, v.token, kind="time", item=b.item) if b.left == 0 else ""))
        parts.append(section(t("Time today"), "budgets", el("ul", *rows)))
    if v.allowed_now:
        rows = [el("li", el("span", e(n), class_="name"), " · ",
                   e(t("until {time}").format(time=v.clock(u)) if u is not None else t("always")))
                for n, u in v.allowed_now]
        parts.append(section(t("Opened for you"), "allowed", el("ul", *rows)))
    parts.append(_recent(t, v))
    parts.append(section(t("Ask to open a site"), "ask",
                         el("p", el("small", e(t("A parent gets your request and answers it from their phone.")))),
                         ask_form(t, v.token), _requests(t, v)))
    parts.append(section(t("What is recorded about you"), "kept",
                         el("p", e(t(words.PRIVACY.get(v.privacy, words.PRIVACY["full"])))),
                         el("p", el("small", e(t("Sites opened with https:// cannot show this page when they are "
                                                 "closed: your browser shows an error instead. Come back here to "
                                                 "see why."))))))
    parts.append(helplines(t, lang, v.helplines, v.report_url))
    return shell(lang, t("Your internet"), "".join(parts), here)


def _closed(t: Translate, v: DeviceView) -> str:
    rows = [el("li", el("strong", e(t(words.CATEGORIES[c][0]))), "<br>", el("small", e(t(words.CATEGORIES[c][1]))))
            for c in v.categories if c in words.CATEGORIES]
    if v.services:
        rows.append(el("li", el("strong", e(t("Closed apps and sites"))), "<br>", el("small", e(", ".join(v.services)))))
    if v.safe_search:
        rows.append(el("li", el("strong", e(t("Safe search"))), "<br>",
                       el("small", e(t("Search engines and YouTube show results for children.")))))
    if v.allow_only:
        rows.append(el("li", el("strong", e(t("Only your own list of sites opens"))), "<br>",
                       el("small", e(", ".join(v.allow)))))
    body = el("ul", *rows) if rows else el("p", e(t("Nothing is closed on this device.")))
    return section(t("What is closed, and why"), "closed", body)


def _recent(t: Translate, v: DeviceView) -> str:
    title = t("Recently closed")
    if v.recent is None:
        return section(title, "recent", el("p", el("small", e(t("Site names are not recorded for this device, so "
                                                                "none can be shown.")))))
    if not v.recent:
        return section(title, "recent", el("p", el("small", e(t("Nothing was closed lately.")))))
    rows = []
    for r in v.recent:
        why = t(words.REASONS[r.kind]) if r.kind in words.REASONS else _category(t, r.category or r.service)
        rows.append(el("li", el("span", el("strong", e(r.name)), class_="name"), " · ", e(v.clock(r.ts)), "<br>",
                       el("small", e(why))))
    return section(title, "recent", el("ul", *rows))


def _requests(t: Translate, v: DeviceView) -> str:
    if not v.requests:
        return ""
    rows = []
    for r in v.requests:
        what = r.name if r.kind == "site" else t("more time: {item}").format(item=items_text(t, (r.name,), v.titles))
        state = t(words.STATES.get(r.state, r.state))
        if r.state == "approved" and r.duration:
            state += " · " + t(words.DURATIONS.get(r.duration, r.duration))
        rows.append(el("li", el("span", e(what), class_="name"), " · ", el("strong", e(state))))
    return el("h3", e(t("Your requests"))) + el("ul", *rows)


def block_page(b: BlockView, v: DeviceView, lang: str, home: str, here: str) -> str:
    """The page a plain-HTTP visit to a closed site gets. `home` is the child's page's address."""
    t = translator(lang)
    if not b.blocked:
        body = el("section", el("h1", e(t("This site is open for you now"))), el("p", e(b.name), class_="name"),
                  el("p", e(t("Your browser still remembers the old address. Wait a minute and open the site "
                              "again."))), class_="hero")
        return shell(lang, b.name, body + helplines(t, lang, v.helplines, v.report_url), here)
    why = []
    if b.kind in words.REASONS:
        why.append(t(words.REASONS[b.kind]))
    if b.category in words.CATEGORIES and b.kind not in ("deny", "override", "pause", "schedule", "allow_only"):
        name, reason = words.CATEGORIES[b.category]
        why += [t(name) + ".", t(reason)]
    elif b.kind == "budget" and b.budget_item:
        why.append(items_text(t, (b.budget_item,), v.titles))
    parts = [el("section", el("h1", e(t("This site is closed on this device"))),
                el("p", el("strong", e(b.name)), class_="name"), *(el("p", e(w)) for w in why), class_="stop")]
    if b.authority:
        law = []
        if b.legal_basis:
            law.append(el("p", e(t("Legal basis:")), " ", e(b.legal_basis)))
        law.append(el("p", el("small", e(t("A parent cannot open it. If you think it is closed by mistake, the site "
                                           "can be appealed:")))))
        if b.appeal_url:
            law.append(el("p", el("a", e(t("How to appeal")), href=b.appeal_url)))
        parts.append(section(t("Closed by law"), "law", *law))
    elif b.kind == "budget" and b.budget_item:
        parts.append(section(t("Need more time?"), "ask", ask_form(t, v.token, kind="time", item=b.budget_item)))
    else:
        parts.append(section(t("Think you need it?"), "ask",
                             el("p", el("small", e(t("Ask a parent: they get your request on their phone.")))),
                             ask_form(t, v.token, name=b.name)))
    parts.append(el("section", el("p", el("a", e(t("See everything about your internet")), href=home))))
    parts.append(helplines(t, lang, v.helplines, v.report_url))
    return shell(lang, t("Closed: {name}").format(name=b.name), "".join(parts), here)


def simple_page(lang: str, title: str, text: str, here: str, link: tuple[str, str] | None = None) -> str:
    more = el("p", el("a", e(link[1]), href=link[0])) if link is not None else ""
    return shell(lang, title, el("section", el("h1", e(title)), el("p", e(text)), more, class_="hero"), here)
