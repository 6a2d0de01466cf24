# Everything a fresh Linux machine with Python 3.10+ needs: `make demo`, `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo demo-edge test lint format proto bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade "pip>=24,<27"

# one stamp per set of extras, remade when pyproject.toml changes
$(VENV)/.edge: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[edge]"
	touch $@

# the whole system on one machine: the agent's and central's extras (no torch)
$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[edge,central]"
	touch $@ $(VENV)/.edge

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[edge,central,training,dev]"
	touch $@ $(VENV)/.edge $(VENV)/.demo

# central + 20 simulated stores x 30 days + the edge agent on the Intel clip; prints the dashboard's address
demo: $(VENV)/.demo
	$(BIN)/retail-demo

# the edge agent alone on the Intel clip: counts, dwell, heatmap and an annotated video in demo-output/
demo-edge: $(VENV)/.edge
	$(BIN)/retail-edge demo --out demo-output

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

proto: $(VENV)/.dev
	$(BIN)/python proto/generate.py

bench: $(VENV)/.dev
	$(BIN)/python bench/edge_pipeline.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
