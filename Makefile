# Soundalike: `make run` serves the demo library, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(CURDIR)/.data/demo
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install runtime browser run test lint format docs bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# Two stamps: `make run` needs only the runtime (what `pip install .` gives a user); the tests,
# linters and librosa's reference come on top of it, in the same environment. Editing
# pyproject.toml redoes the runtime stamp, which redoes the dev one the next time it is needed.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed-dev ## Create the virtual environment and install Soundalike with its test tools

runtime: $(VENV)/.installed ## Create the virtual environment and install Soundalike alone, as users get it

# The page's tests drive Debian's chromium through Playwright; never a downloaded browser. The
# radio's tests start Debian's mpd (never as a service: each test runs its own).
browser: ## Install Debian's chromium and mpd for the page's and radio's tests (apt-get, sudo unless root)
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/mpd ] || missing="$$missing mpd"; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian's$$missing for the browser and radio tests"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

run: runtime ## Index the bundled demo library (SQLite) and serve it on http://$(HOST):$(PORT)/
	env -u DATABASE_URL SOUNDALIKE_DATA_DIR=$(DATA_DIR) $(BIN)/soundalike index demo/library
	env -u DATABASE_URL SOUNDALIKE_DATA_DIR=$(DATA_DIR) $(BIN)/soundalike serve --host $(HOST) --port $(PORT)

test: install browser ## Lint, then run the whole test suite (SQLite and PostgreSQL)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: install ## Lint, check formatting and check that imports flow one way (pyproject's contracts)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install ## Format the code and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: install ## Regenerate the CLI reference (docs/cli.md) from each command's --help
	$(BIN)/cog -r docs/cli.md

bench: install ## Measure demo indexing time and query latency (docs/performance.md lists the others)
	$(BIN)/python bench/query.py

clean: ## Remove the virtual environment and the demo data
	rm -rf $(VENV) .data
