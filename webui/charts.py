"""Bar charts as geometry for an inline SVG, drawn on the server: no JavaScript library, no
CDN, and nothing the page's Content-Security-Policy (no inline script or style) would stop.
Colours are SVG presentation attributes, which CSP does not treat as inline style."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

WIDTH, HEIGHT = 320, 150  # the viewBox; the SVG scales to the page width
TOP, BOTTOM, LEFT = 12, 20, 30  # room for the top value, the time labels and the scale


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    w: float
    y_all: float  # top of the queries bar
    h_all: float
    y_blocked: float
    h_blocked: float
    label: str  # shown under every few bars
    title: str  # hover text: "14:00 · 120 / 8"
    when: str  # "14:00" or "29.11", for the table under the chart (screen readers, exact values)
    queries: int
    blocked: int


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    peak: int  # the scale's top value
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    base: int = HEIGHT - BOTTOM
    top: int = TOP


def _nice(n: int) -> int:
    """The scale's top: 1, 2 or 5 times a power of ten, at least `n`."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= n:
                return step * m
        step *= 10


def chart(series: list[dict[str, Any]], span: str, tz: str) -> Chart:
    """Bars for logstore.series() output: per hour (`24h`) or per day (`7d`)."""
    peak = _nice(max([int(b["queries"]) for b in series] + [1]))
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(series), 1)
    zone = ZoneInfo(tz)
    bars = []
    for i, b in enumerate(series):
        start = dt.datetime.fromtimestamp(b["start"], zone)
        label = start.strftime("%H") if span == "24h" else start.strftime("%d.%m")
        every = 6 if span == "24h" else 1
        when = start.strftime("%H:00" if span == "24h" else "%d.%m")
        h_all = plot_h * int(b["queries"]) / peak
        h_blk = plot_h * int(b["blocked"]) / peak
        bars.append(Bar(
            x=round(LEFT + i * slot + slot * 0.1, 1), w=round(slot * 0.8, 1),
            y_all=round(TOP + plot_h - h_all, 1), h_all=round(h_all, 1),
            y_blocked=round(TOP + plot_h - h_blk, 1), h_blocked=round(h_blk, 1),
            label=label if i % every == 0 else "",
            title=f"{when} · {b['queries']} / {b['blocked']}", when=when, queries=int(b["queries"]),
            blocked=int(b["blocked"])))
    return Chart(bars, peak)
