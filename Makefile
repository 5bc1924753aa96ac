# Sealroom — `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The browser tests drive Debian's Chromium (Playwright never downloads a browser of its own).
CHROMIUM ?= /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help demo test e2e lint bench serve clean

help: ## list the targets
	@grep -E '^[a-z0-9]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP) ## set up and run the demo on synthetic documents (offline engine)
	$(BIN)/sealroom demo

$(CHROMIUM):
	@echo "Installing Debian's Chromium for the browser tests (apt-get)"
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium

# The OpenID provider (Node.js) the single sign-on tests run against; without npm they are skipped.
PEER := tests/oidc_peer/node_modules/.package-lock.json
$(PEER): tests/oidc_peer/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/oidc_peer --no-audit --no-fund; \
	else echo "npm not found: the single sign-on tests will be skipped"; fi

test: $(STAMP) $(CHROMIUM) $(PEER) ## set up and run the whole test suite (the browser tests too: make e2e runs them alone)
	$(BIN)/pytest

e2e: $(STAMP) $(CHROMIUM) $(PEER) ## only the real-browser journeys (screenshots in test-artifacts/)
	$(BIN)/pytest -m e2e

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP) ## run the benchmarks and write docs/benchmarks.md
	bash bench/run.sh

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
