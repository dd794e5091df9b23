"""Send one message through Apprise, in a process of its own: `python -m dnsfilter.notify.send`
with {"urls": [...], "title": "...", "body": "..."} as JSON on stdin.

Exit status: 0 sent to every address, 1 some failed (each named, masked, on stderr), 2 bad
input, 3 Apprise is not installed (it is optional: `pip install 'dnsfilter[notify]'`).
"""

from __future__ import annotations

import json
import logging
import sys

from dnsfilter.notify.urls import masked

MAX_INPUT = 256 * 1024


def main() -> int:
    try:
        msg = json.loads(sys.stdin.read(MAX_INPUT))
        urls, title, body = msg["urls"], str(msg["title"]), str(msg["body"])
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise TypeError("urls must be a list of strings")
    except (ValueError, KeyError, TypeError) as e:
        print(f"notify: bad input: {e}", file=sys.stderr)
        return 2
    try:
        import apprise
    except ImportError:
        print("notify: Apprise is not installed (pip install apprise): nothing sent", file=sys.stderr)
        return 3
    logging.basicConfig(level=logging.ERROR, format="notify: %(message)s")
    failed = 0
    for url in urls:  # one at a time: each failure is named
        a = apprise.Apprise()
        if not a.add(url):
            print(f"notify: {masked(url)}: not an address Apprise knows", file=sys.stderr)
            failed += 1
            continue
        if not a.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT):
            print(f"notify: {masked(url)}: sending failed", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
