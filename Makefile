# `make run` and `make test` do all set-up on a fresh machine; everything else is a step of theirs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
NPM_STAMP := sdk_js/node_modules/.installed
SNIPPET := sdk_js/dist/microx.js
SDK_SOURCES := $(shell find sdk_js/src -name '*.ts') sdk_js/build.mjs sdk_js/tsconfig.json
CHROMIUM := /usr/bin/chromium
# The other engines of the browser tests (tests/engines/): Firefox through WebDriver BiDi,
# WebKitGTK through WebKitWebDriver under Xvfb.
FIREFOX := /usr/bin/firefox-esr
WEBKIT_DRIVER := /usr/bin/WebKitWebDriver
XVFB := /usr/bin/Xvfb
# A React Router app the browser tests load with the snippet in it (tests/apps/router/).
ROUTER_DIR := tests/apps/router
ROUTER_NPM_STAMP := $(ROUTER_DIR)/node_modules/.installed
ROUTER_APP := $(ROUTER_DIR)/dist/index.html
ROUTER_SOURCES := $(wildcard $(ROUTER_DIR)/src/*) $(ROUTER_DIR)/build.mjs
# The official Node.js ClickHouse client, run against the collector (tests/read/test_clients.py).
NODE_CLIENT_DIR := tests/clients/node
NODE_CLIENT_STAMP := $(NODE_CLIENT_DIR)/node_modules/.installed
# For `promtool test rules` of ops/alerts.yml (tests/test_alerts.py).
PROMTOOL := /usr/bin/promtool
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test bench bench-analysis loadtest build check lint format contract clean

run: $(PY_STAMP) $(SNIPPET)
	$(BIN)/microx serve

test: $(PY_STAMP) $(SNIPPET) $(ROUTER_APP) $(NODE_CLIENT_STAMP) $(CHROMIUM) $(FIREFOX) $(WEBKIT_DRIVER) $(XVFB) $(PROMTOOL) check
	cd sdk_js && node --test test/*.test.mjs
	$(BIN)/pytest

# Measures, never asserts a time: prints events/s, latency, CPU and memory for the bare
# stack, microx and a naive baseline, and fails only if the audit finds a lost event.
bench: $(BENCH_STAMP) $(SNIPPET) /usr/bin/wrk
	$(BIN)/python -m loadtests.bench

# Loads 10 million generated events into a fresh embedded store under var/ and prints the
# time of each report query.
bench-analysis: $(PY_STAMP)
	$(BIN)/python -m loadtests.bench_analysis --events 10000000

# Shop visitors from the journey generator under Locust against a fresh collector, then an
# audit of every acknowledged event id (fails on any loss or duplicate).
loadtest: $(BENCH_STAMP)
	$(BIN)/python -m loadtests.locust_run --users 200 --seconds 60

build: $(SNIPPET)

check: $(PY_STAMP) $(NPM_STAMP)
	$(BIN)/ruff check collector tests loadtests
	$(BIN)/ruff format --check collector tests loadtests
	$(BIN)/mypy
	cd sdk_js && node_modules/.bin/tsc --noEmit -p tsconfig.json
	cd sdk_js && node_modules/.bin/eslint .
	cd sdk_js && node_modules/.bin/prettier --check src test

format: $(PY_STAMP) $(NPM_STAMP)
	$(BIN)/ruff format collector tests loadtests
	$(BIN)/ruff check --fix collector tests loadtests
	cd sdk_js && node_modules/.bin/prettier --write src test

# Regenerate the contract's types (the snippet's and the collector's) after changing
# schema/events.schema.json.
contract: $(PY_STAMP)
	$(BIN)/python -m collector.tools.tsgen > sdk_js/src/contract.ts
	$(BIN)/python -m collector.tools.pygen > collector/rows/wire.py

$(PY_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(BENCH_STAMP): $(PY_STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

/usr/bin/wrk:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk

$(NPM_STAMP): sdk_js/package.json sdk_js/package-lock.json
	cd sdk_js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(SNIPPET): $(NPM_STAMP) $(SDK_SOURCES)
	cd sdk_js && node build.mjs

$(ROUTER_NPM_STAMP): $(ROUTER_DIR)/package.json $(ROUTER_DIR)/package-lock.json
	cd $(ROUTER_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(ROUTER_APP): $(ROUTER_NPM_STAMP) $(ROUTER_SOURCES) $(SNIPPET)
	cd $(ROUTER_DIR) && node build.mjs

$(NODE_CLIENT_STAMP): $(NODE_CLIENT_DIR)/package.json $(NODE_CLIENT_DIR)/package-lock.json
	cd $(NODE_CLIENT_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

$(FIREFOX):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq firefox-esr

$(WEBKIT_DRIVER):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq webkit2gtk-driver

$(XVFB):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq xvfb

$(PROMTOOL):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus

clean:
	rm -rf $(VENV) sdk_js/node_modules sdk_js/dist $(ROUTER_DIR)/node_modules $(ROUTER_DIR)/dist
	rm -rf $(NODE_CLIENT_DIR)/node_modules
	rm -rf .pytest_cache .mypy_cache .ruff_cache
