# Two commands do all set-up on a fresh machine:
#   make demo   the main job: train, evaluate, package, serve and synth (outputs under artifacts/)
#   make test   lint and the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format bench clean

$(STAMP): requirements.txt requirements-dev.txt $(wildcard package-lock.json)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip==26.3
	$(VENV)/bin/pip install --progress-bar on -r requirements-dev.txt
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; fi
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py --out artifacts

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(VENV)/bin/pytest -q

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) -m training.bench

clean:
	rm -rf artifacts cdk.out .pytest_cache
