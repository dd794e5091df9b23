"""Policy: compiled feed sets and their side rules (`feedset`, `feedrules`), the matcher over the
feeds in force (`matcher`), small name lists (`rulesets`) and the profile evaluation that turns
them into a Decision (`decide`).

Must not import: `dnsfilter.core.engine`, the household's time rules (they reach `decide` only
as a TimeState value) or anything outside the core.
"""
