# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
export FLASK_APP := wsgi

.PHONY: run test lint install db seed web scheduler clean bench axe oidc

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

db: install
	$(BIN)/flask db upgrade

seed: db
	$(BIN)/flask demo seed

## Start the web app on http://127.0.0.1:5000 (PORT=5102 make run for another port) with demo data.
## Ctrl-C, SIGTERM or SIGHUP stops the web server and the scheduler. `exec`: make's SIGTERM
## (a process manager stopping make) reaches the devserver itself, not a shell in between.
run: seed
	exec $(BIN)/python -m app.devserver

## axe-core for the accessibility checks in the browser tests (npm package, not in the repo).
## Installed once per version; without npm the browser tests skip (they fail if REQUIRE_BROWSER=1).
AXE_VERSION := 4.14.1
AXE_DIR := .cache/axe
AXE_STAMP := $(AXE_DIR)/.installed-$(AXE_VERSION)
axe:
	@if [ -f $(AXE_STAMP) ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
	  mkdir -p $(AXE_DIR) && \
	  npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
	    --prefix $(AXE_DIR) axe-core@$(AXE_VERSION) && \
	  rm -f $(AXE_DIR)/.installed-* && touch $(AXE_STAMP); \
	else echo "npm not found: accessibility checks will be skipped (install Node.js and npm)."; fi

## oidc-provider (a certified OpenID Provider, npm) for the single sign-on tests (tests/test_sso.py),
## installed like axe-core: once per version; without npm those tests skip (CI requires them).
OIDC_PROVIDER_VERSION := 9
OIDC_DIR := .cache/oidc
OIDC_STAMP := $(OIDC_DIR)/.installed-$(OIDC_PROVIDER_VERSION)
oidc:
	@if [ -f $(OIDC_STAMP) ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
	  mkdir -p $(OIDC_DIR) && \
	  npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
	    --prefix $(OIDC_DIR) oidc-provider@$(OIDC_PROVIDER_VERSION) && \
	  rm -f $(OIDC_DIR)/.installed-* && touch $(OIDC_STAMP); \
	else echo "npm not found: single sign-on tests will be skipped (install Node.js and npm)."; fi

## Run the whole test suite (SQLite by default; TEST_DATABASE_URL=postgresql://... for PostgreSQL)
## on TEST_WORKERS processes (pytest-xdist; `auto`: one per CPU, 0: no extra process).
## A quick run without browser, process and corpus tests: `.venv/bin/pytest -m "not slow"`.
TEST_WORKERS ?= auto
test: install axe oidc
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
