# Voxsig: the two commands a new user needs are `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install install-dev run test test-fast lint bench clean

$(BIN)/python:
	@$(PYTHON) -c "import sys; assert sys.version_info >= (3, 11)" 2>/dev/null || { echo "Voxsig needs Python 3.11 or newer: install it, or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing Voxsig into $(VENV) ..."
	$(BIN)/pip install --quiet --progress-bar off -e .
	@touch $@

$(VENV)/.dev-installed: pyproject.toml $(STAMP)
	@echo "Installing development tools into $(VENV) ..."
	$(BIN)/pip install --quiet --progress-bar off -e '.[dev]'
	@touch $@

install: $(STAMP)

install-dev: $(VENV)/.dev-installed

run: install
	$(BIN)/voxsig serve

test: install-dev
	@bash scripts/ensure-system-packages.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The inner loop, in under a minute: the in-process unit layer (no server subprocess), then lint.
test-fast: install-dev
	$(BIN)/python -m pytest tests/unit -q $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory lint

lint: install-dev
	$(BIN)/ruff check src tests bench examples harness
	$(BIN)/ruff format --check src tests bench examples harness
	$(BIN)/mypy

# Every benchmark (or BENCH_ARGS="NAME ... --options"), then docs/benchmarks.md from the latest
# results. On a fresh clone of a 2-core machine: about 12 minutes, install-dev included (the
# soak of issue 13 takes ~3 of them).
bench: install-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
