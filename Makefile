# One command each for the two jobs the README promises: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ORACLE := tests/oracle/ajv
AXE := tests/browser/axe
CHROMIUM ?= /usr/bin/chromium

.PHONY: venv oracle browser demo node test lint typecheck unit bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The differential tests compare our models with the upstream validator itself (AJV 8 + ajv-formats 3).
oracle: $(ORACLE)/node_modules/.installed

$(ORACLE)/node_modules/.installed: $(ORACLE)/package.json $(ORACLE)/package-lock.json
	cd $(ORACLE) && npm ci --silent --no-audit --no-fund
	touch $@

# The dashboard's browser tests drive Debian's Chromium through Playwright (never a downloaded
# browser) and inject axe-core from npm for the accessibility scans. CI runs as root.
# The benchmark smoke test also drives wrk; both come from Debian's packages.
browser: $(AXE)/node_modules/.installed
	@missing=""; test -x $(CHROMIUM) || missing="chromium"; command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then echo "installing$$missing (Debian packages)"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi

$(AXE)/node_modules/.installed: $(AXE)/package.json $(AXE)/package-lock.json
	cd $(AXE) && npm ci --silent --no-audit --no-fund
	touch $@

# The main job: Munich, Berlin and Vienna federating over HTTPS (spec §12.1), on SQLite.
demo: venv
	$(BIN)/loopnode demo

# A single seeded node on SQLite, for poking at the API by hand.
node: venv
	rm -rf .demo-node
	$(BIN)/loopnode init --data-dir .demo-node --node-id munich.loop --name "Munich LOOP node" \
	  --country DE --city-code MUC --city Munich --lat 48.137 --lon 11.575
	$(BIN)/loopnode seed --data-dir .demo-node --count 200
	$(BIN)/loopnode apikey create --data-dir .demo-node demo | tail -1 > .demo-node/demo-api-key
	@echo "API key: $$(cat .demo-node/demo-api-key)"
	$(BIN)/loopnode serve --data-dir .demo-node --port 8000

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

test: venv oracle browser lint typecheck
	$(BIN)/pytest -q

unit: venv
	$(BIN)/pytest -q tests/unit

bench: venv
	$(BIN)/python benchmarks/registry.py

clean:
	rm -rf $(VENV) $(ORACLE)/node_modules $(AXE)/node_modules .demo-node .pytest_cache .mypy_cache .ruff_cache
