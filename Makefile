# dnsfilter — one command to run, one to test.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config.toml
# Debian packages the tests use: a real upstream (unbound, nsd), real clients (dig, kdig),
# dnsperf for the benchmark, nft and busybox for the router tests, chromium + its driver for the web UI;
# busybox-static (ash), systemd (systemd-analyze) and shellcheck for the deploy/ tests; dnsdist (a real
# DoH/DoT server) and util-linux (unshare, nsenter) for the encrypted-upstream tests; knot, bind9,
# pdns-recursor and knot-resolver (+ lua-cqueues, its file watch) for the RPZ tests (docs/rpz.md).
DEB_TEST_PKGS := gcc libc6-dev python3-dev unbound nsd bind9-dnsutils knot-dnsutils dnsperf dnsmasq-base openssl iproute2 nftables procps chromium chromium-driver busybox-static systemd shellcheck strace dnsdist util-linux knot bind9 pdns-recursor knot-resolver lua-cqueues
# `make run` compiles the query path with mypyc (scripts/build_native.py): a C compiler and Python's headers.
DEB_NATIVE_PKGS := gcc libc6-dev python3-dev
# `make test-system` also needs these (a Debian 12 root, booted under systemd-nspawn).
DEB_SYSTEM_PKGS := debootstrap systemd-container util-linux
# `make bench` also counts instructions per query under valgrind's callgrind (scripts/bench_instructions.py).
DEB_BENCH_PKGS := valgrind
STAMP := $(VENV)/.installed
# axe-core (npm) for the web UI's accessibility test, in a git-ignored folder; no browser download
AXE_VERSION := 4.14.1
AXE := .axe/node_modules/axe-core/axe.min.js

.PHONY: run test test-system lint typecheck bench fuzz deps-deb clean check axe screenshots native

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

$(CONFIG):
	cp config.example.toml $(CONFIG)

# Installs the Debian packages when run as root and any is missing; never starts their services.
deps-deb:
	@bash scripts/install-debs.sh $(DEB_TEST_PKGS)

# The query path compiled with mypyc (docs/performance.md), rebuilt only when a source changed;
# without a compiler the daemon runs the same modules interpreted (dnsfilter/native.py).
native: $(STAMP)
	@bash scripts/install-debs.sh $(DEB_NATIVE_PKGS) || true
	$(BIN)/python scripts/build_native.py --if-stale --optional

run: native $(CONFIG)
	$(BIN)/dnsfilter serve -c $(CONFIG)

# Without npm the accessibility test skips and says why.
$(AXE):
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --no-audit --no-fund --no-save --prefix .axe axe-core@$(AXE_VERSION); \
	else echo "npm not found: tests/webui/test_browser_family.py will skip its axe-core checks"; fi

axe: $(AXE)

# Fresh screenshots of the real UI (phone width, en/ru/kk) into docs/screenshots/
screenshots: deps-deb $(STAMP) $(AXE)
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/python -m pytest -q tests/webui/test_browser_family.py

# Every test against the compiled query path (what `make run` runs; DNSFILTER_EXPECT_NATIVE makes
# tests/unit/test_native.py fail if it was not loaded), then the unit tests again interpreted (what
# the OpenWrt package runs).
test: deps-deb $(STAMP) $(AXE)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy
	$(BIN)/python scripts/build_native.py --if-stale
	DNSFILTER_EXPECT_NATIVE=1 $(BIN)/python -m pytest -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc
	DNSFILTER_PURE=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/unit; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# deploy/debian under a real systemd: a Debian 12 root debootstrapped from the mirror apt uses
# (cached in .cache/system/, git-ignored; about a minute the first time), booted with
# systemd-nspawn -b; the installer from wheels of this checkout, hardening, DNS, reload, restart,
# the firewall table, uninstall (tests/system/). Needs root; a few minutes: not part of `make test`.
test-system: $(STAMP)
	@bash scripts/install-debs.sh $(DEB_SYSTEM_PKGS)
	DNSFILTER_SYSTEM_TEST=1 $(BIN)/python -m pytest -q -p no:cacheprovider -rA tests/system

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy
	$(BIN)/ruff format --check . || true

# mypy on dnsfilter, feeds and webui ([tool.mypy] in pyproject.toml); lint and test run it too
typecheck: $(STAMP)
	$(BIN)/python -m mypy

bench: deps-deb native
	@bash scripts/install-debs.sh $(DEB_BENCH_PKGS)
	bash scripts/bench.sh

# Coverage-guided fuzzing (atheris): every target in tests/fuzz/targets.py for FUZZ_SECONDS each.
# New inputs are kept in .fuzz/corpus, crash inputs in .fuzz/crashes (see docs/fuzzing.md).
FUZZ_SECONDS ?= 60
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run --seconds $(FUZZ_SECONDS)

check: $(STAMP) $(CONFIG)
	$(BIN)/dnsfilter config check -c $(CONFIG)

clean:
	rm -rf $(VENV) .bench .fuzz .pytest_cache build *.egg-info .axe dnsfilter/native.json
	find dnsfilter -name "*.so" -delete
