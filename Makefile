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
	$(PY) -m pytest -q -n 2 -p xdist --dist loadgroup -m "not container"

test-pure: venv ## Run the decoder tests on the uncompiled (plain Python) fast path
	FABRICSCOPE_PURE=1 $(PY) -m pytest -q tests

bench: venv ## Decode throughput benchmark (medians, ratios against a dpkt parse)
	$(PY) bench/decode.py

fuzz: venv ## Fuzz the decoders (1 M inputs by default)
	$(PY) bench/fuzz_decode.py

format: venv ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The container image: podman where it is installed, else Docker (docs/getting-started.md).
ENGINE ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
IMAGE ?= fabricscope:latest
# The base of both stages; empty: the Dockerfile's default, the official Python image.
PYTHON_IMAGE ?=
# A CA bundle for pip inside the build (behind a TLS-intercepting proxy): a build secret, in no
# layer of the image. E.g. CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
CA_BUNDLE ?=
comma := ,
IMAGE_FLAGS = $(if $(filter podman,$(notdir $(ENGINE))),--format docker) \
	$(if $(PYTHON_IMAGE),--build-arg PYTHON_IMAGE=$(PYTHON_IMAGE)) \
	$(if $(CA_BUNDLE),--secret id=cacert$(comma)src=$(CA_BUNDLE))

image: ## Build the container image fabricscope:latest (podman, else Docker)
	$(ENGINE) build $(IMAGE_FLAGS) -t $(IMAGE) .
	@$(ENGINE) image inspect --format '$(IMAGE): {{.Size}} bytes' $(IMAGE)

docker: ## The same with Docker
	$(MAKE) --no-print-directory image ENGINE=docker

image-debian: ## Build the image on a Debian base made by debootstrap (as root; reused for a week)
	base=$$(docker/debian-base.sh $(ENGINE)) && $(MAKE) --no-print-directory image PYTHON_IMAGE=$$base

test-container: venv image-debian ## Build the image on the Debian base, run it and check it
	FABRICSCOPE_IMAGE=$(IMAGE) FABRICSCOPE_ENGINE=$(ENGINE) \
		$(PY) -m pytest -q -m container tests/test_container.py

clean: ## Remove build outputs (keeps .venv)
	rm -rf build dist *.egg-info decoders/*.so collector/receive/*.so .pytest_cache .mypy_cache .ruff_cache

.PHONY: help venv run lint test test-pure bench fuzz format image docker image-debian \
	test-container clean
