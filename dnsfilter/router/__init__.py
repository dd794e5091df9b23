"""The router's own integration: OpenWrt UCI rendered into the TOML config (`uci`,
`uci_grammar`) and the forced-DNS firewall (`firewall`: rules as pure functions;
`firewall_apply`, `doh_refresh`: running `nft` and refreshing the DoH resolver set).

Must not import: `dnsfilter.shell` (the daemon) or `webui`.
"""
