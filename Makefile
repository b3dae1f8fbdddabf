# Hawker. `make run` for a show in full swing; `make test` for the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# Front-end libraries come from the npm registry at setup (package.json pins them) and are
# copied next to the other static files; they are never committed.
VENDOR_DIR := src/hawker/web/static/vendor
VENDOR := $(VENDOR_DIR)/hls.min.js

.PHONY: run test lint setup browser clean

run: setup
	$(BIN)/hawker demo

test: setup browser
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

setup: $(STAMP) $(VENDOR)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Hawker needs Python 3.11 or newer"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

$(VENDOR): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
		echo "installing Node.js and npm for the front-end libraries"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq npm >/dev/null; }
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR_DIR)
	cp node_modules/hls.js/dist/hls.min.js $@

# The browser tests drive Debian's Chromium; install it when it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || { \
		echo "installing Chromium for the browser tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf $(VENV) var node_modules $(VENDOR_DIR) .pytest_cache .mypy_cache .ruff_cache .hypothesis
