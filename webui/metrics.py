"""GET /metrics: the daemon's counters in the Prometheus text format, for a scraper.

The numbers come from the running daemon only (`metrics` on its control socket, the same text
as `dnsfilter ctl metrics`): a custom collector reads that text with prometheus_client's parser
and re-exposes it, adding `dnsfilter_up` (did the daemon answer) and how long asking took. The
UI makes up nothing; a stopped daemon gives `dnsfilter_up 0` and no other family.

Auth is the API's: an API token (`Authorization: Bearer ...`, what Prometheus'
`authorization:` scrape setting sends) or a logged-in browser session (webui._gate).

prometheus_client is a dependency, but OpenWrt has no package of it: without it /metrics
answers 501 with a plain reason and the rest of the UI works as before. It is imported at the
first /metrics request, not with the UI: its ~30 modules (and urllib.request, wsgiref) cost
the UI process about 1 MB that no page needs (measured with scripts/bench_footprint.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Response

from webui import control, state

bp = Blueprint("metrics", __name__)
ASK_TIMEOUT = 5.0  # below a scraper's usual 10 s timeout, so a hung daemon still gives dnsfilter_up 0


class DaemonCollector:
    """Asks the daemon once per collect() (one scrape); no caching, so values are never stale."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily
        from prometheus_client.parser import text_string_to_metric_families

        started = time.monotonic()
        reply = control.send(self.socket_path, "metrics", timeout=ASK_TIMEOUT)
        text = reply.data.get("metrics") if reply.ok else None
        families = []
        if isinstance(text, str):
            try:
                families = list(text_string_to_metric_families(text))
            except ValueError:
                text = None  # a daemon of another version wrote something unreadable: report down
        yield GaugeMetricFamily("dnsfilter_up", "1 when the daemon answered the metrics request on its control "
                                "socket, 0 when it is stopped or did not answer.", value=1 if text else 0)
        yield GaugeMetricFamily("dnsfilter_metrics_request_seconds", "Time the daemon took to give its metrics.",
                                value=time.monotonic() - started)
        yield from families


def available() -> bool:
    from dnsfilter.shell import tlsload

    tlsload.https_client()  # the UI imported http.client without ssl; prometheus_client needs its HTTPS parts
    try:
        import prometheus_client  # noqa: F401
    except ImportError:  # appliances without the package
        return False
    return True


@bp.get("/metrics")
def metrics() -> Response:
    if not available():
        return Response("prometheus_client is not installed on this appliance\n", status=501,
                        mimetype="text/plain")
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(state().data_dir / "control.sock"))  # type: ignore[arg-type]
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
