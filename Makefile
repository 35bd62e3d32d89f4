# The two commands of the README: `make demo` (the main job) and `make test` (the test suite).
# Each creates the virtual environment and fetches MNIST when they are missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= runs/mnist_aevb
DEMO_ARGS ?= --epochs 50 --out $(DEMO_OUT)

.PHONY: install data demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,music]'
	touch $@

data: install
	$(PY) -m aevb.data

# A second `make demo` continues (or, when finished, only reports) the run in $(DEMO_OUT).
demo: data
	$(PY) examples/mnist_aevb.py $(DEMO_ARGS) $(if $(wildcard $(DEMO_OUT)/checkpoint.pt),--resume)

# Ruff (lint, then the format check) fails the target before any test runs.
test: data
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

bench: data
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/quality.py --epochs 10
	$(PY) benchmarks/overheads.py

clean:
	rm -rf $(VENV) runs build *.egg-info
