# fabricscope — `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Extra flags for `fabricscope demo`, e.g. make run RUN_ARGS="--http-port 18008 --sflow-port 16343"
RUN_ARGS ?=

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/fabricscope: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

venv: $(BIN)/fabricscope ## Create .venv with fabricscope (compiled fast path) and the dev tools

run: venv ## Set up and run the collector fed by a small simulated fabric (Ctrl+C stops)
	$(BIN)/fabricscope demo $(RUN_ARGS)

lint: venv ## ruff (lint + format check) and mypy (strict on decoders/, topology/, simulator/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy decoders topology collector simulator

test: lint ## Set up, lint and run the whole test suite
	$(PY) -m pytest -q -n 2 -p xdist --dist loadgroup

test-pure: venv ## Run the decoder tests on the uncompiled (plain Python) fast path
	FABRICSCOPE_PURE=1 $(PY) -m pytest -q tests

bench: venv ## Decode throughput benchmark (medians, ratios against a dpkt parse)
	$(PY) bench/decode.py

fuzz: venv ## Fuzz the decoders (1 M inputs by default)
	$(PY) bench/fuzz_decode.py

format: venv ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docker: ## Build the container image fabricscope:latest (needs a Docker engine)
	docker build -t fabricscope:latest .

clean: ## Remove build outputs (keeps .venv)
	rm -rf build dist *.egg-info decoders/*.so collector/receive/*.so .pytest_cache .mypy_cache .ruff_cache

.PHONY: help venv run lint test test-pure bench fuzz format docker clean
