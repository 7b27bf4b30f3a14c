# Two commands do all set-up on a fresh machine:
#   make demo   the main job: train, evaluate, package, serve and synth (outputs under artifacts/)
#   make test   lint and the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The SageMaker images' interpreter (3.12, stacks/images.py): small venvs without torch or ray, where
# tests/test_python_versions.py runs the serving code (.venv-py312, the inference image's numpy) and the simulator
# and evaluation code (.venv-py312-training). .venv-sdk: the SageMaker SDK of scripts/lifecycle.py.
# The first candidate that runs: a pyenv shim on PATH fails when that version is not pyenv's global one.
runs = $(firstword $(foreach p,$(1),$(shell "$(p)" -c "" >/dev/null 2>&1 && echo "$(p)")))
PYTHON312 ?= $(call runs,$(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(shell command -v python3.12))

.PHONY: install demo test lint format bench clean interpreters

$(STAMP): requirements.txt requirements-dev.txt $(wildcard package-lock.json)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip==26.3
	$(VENV)/bin/pip install --progress-bar on -r requirements-dev.txt
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; fi
	touch $(STAMP)

install: $(STAMP)

.venv-py312/.installed: requirements-py312.txt
	test -n "$(PYTHON312)" || { echo "python3.12 not found (pyenv install 3.12, or PYTHON312=...)"; exit 1; }
	$(PYTHON312) -m venv .venv-py312
	.venv-py312/bin/pip install --quiet -r requirements-py312.txt
	touch $@

.venv-py312-training/.installed: requirements-py312-training.txt
	test -n "$(PYTHON312)" || { echo "python3.12 not found (pyenv install 3.12, or PYTHON312=...)"; exit 1; }
	$(PYTHON312) -m venv .venv-py312-training
	.venv-py312-training/bin/pip install --quiet -r requirements-py312-training.txt
	touch $@

.venv-sdk/.installed: requirements-sdk.txt
	$(PYTHON) -m venv .venv-sdk
	.venv-sdk/bin/pip install --quiet -r requirements-sdk.txt
	touch $@

interpreters: .venv-py312/.installed .venv-py312-training/.installed .venv-sdk/.installed

demo: $(STAMP)
	$(PY) scripts/demo.py --out artifacts

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint interpreters
	$(VENV)/bin/pytest -q

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) -m training.bench

clean:
	rm -rf artifacts cdk.out .pytest_cache .venv-py312 .venv-py312-training .venv-sdk
