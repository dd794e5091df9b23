"""`dnsfilter firewall render|apply|refresh|remove`: forced DNS on a router (docs/forced-dns.md)."""

from __future__ import annotations

import argparse
import sys

from dnsfilter.cli_common import fail, load


def firewall_command(args: argparse.Namespace) -> int:
    from dnsfilter.router import firewall
    from dnsfilter.router import firewall_apply as fa

    cfg = load(args.config) if args.config else None
    try:
        if args.sub == "remove":
            fa.remove()
            print("forced DNS rules removed (table inet dnsfilter)")
            return 0
        assert cfg is not None
        if args.sub == "render":
            rules = fa.load_rules(cfg)
            print(firewall.render_sets(rules, args.variant) if args.sets else firewall.render(rules, args.variant),
                  end="")
            return 0
        if args.sub == "apply":
            rules = fa.apply(cfg)
        else:  # refresh: fetch [firewall] doh_feed, then refill every loaded rule set's DoH sets
            from dnsfilter.router import doh_refresh
            fa.load_rules(cfg)  # a bad doh_list fails here, before anything is fetched or run
            st, variants = doh_refresh.refresh_once(cfg)
            if not variants:
                raise fa.FirewallError("the dnsfilter table is not loaded: run `dnsfilter firewall apply` first")
            rules = fa.load_rules(cfg)
            if st is not None and st.result in ("failed", "rejected"):
                print(f"dnsfilter: DoH feed {st.result}: {st.error}; the sets keep the last good list",
                      file=sys.stderr)
                return 1
    except fa.FirewallError as e:
        fail(str(e), 1)
    print(f"forced DNS rules {'loaded' if args.sub == 'apply' else 'refreshed'}: port 53 on "
          f"{', '.join(rules.interfaces)} -> :{rules.port}; {len(rules.doh4) + len(rules.doh6)} DoH entries")
    return 0
