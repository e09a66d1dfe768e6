# The two commands of the book (see README, "Instructions"):
#
#   make book     build the whole book into _build/html (synthetic twin by default)
#   make test     lint + the whole test suite (every notebook in fast mode, then the book)
#
# Options of `make book`:  PROFILE=twin|real  DATA_DIR=/path/to/yearbook/folder  FAST=1
#                          SEED=20230221  ONLY=01,02  BUILD_DIR=_build
#                          SET="scenario=siphon cluster=dyadic"  (any other Spec choice)
#                          STRICT=1 (real: stop at the first value the loader would guess)
#                          PRESET=real_paper (real: the sample closest to the paper's)
#   make lab      open JupyterLab on notebooks/ in this environment (the notebooks run as is)
# Both targets first run `make env`: a .venv from the pinned requirements/lock.txt
# (re-installed only when lock.txt or pyproject.toml change).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cbec-env-stamp
BUILD_DIR ?= _build

PROFILE ?=
DATA_DIR ?=
SEED ?=
FAST ?=
STRICT ?=
PRESET ?=
ONLY ?=
SET ?=
LAB_ARGS ?=
PYTEST_ARGS ?=

# pip on this kind of machine prints harmless "Location '...' is ignored" lines (pip.conf
# lists a local index that may be missing); drop them and keep everything else.
PIP_QUIET := { grep -v -E "^WARNING: Location '.*' is ignored" || true; }

BOOK_ARGS := --build-dir $(BUILD_DIR) \
	$(if $(PROFILE),--profile $(PROFILE)) \
	$(if $(DATA_DIR),--data-dir "$(DATA_DIR)") \
	$(if $(SEED),--seed $(SEED)) \
	$(if $(FAST),--fast=$(FAST)) \
	$(if $(STRICT),--strict=$(STRICT)) \
	$(if $(PRESET),--preset $(PRESET)) \
	$(if $(ONLY),--only $(ONLY)) \
	$(if $(SET),--set "$(SET)")

.PHONY: help env book run test lint clean lab

help:
	@echo "make book   build the book into $(BUILD_DIR)/html (PROFILE=twin|real DATA_DIR=... FAST=1 SEED=... ONLY=01,02)"
	@echo "make test   lint + every test, every notebook (fast mode) and the book build"
	@echo "           SET=\"scenario=siphon cluster=dyadic\" changes any other Spec choice"
	@echo "make run    execute the notebooks only (same options as book), no HTML"
	@echo "make lab    open JupyterLab on the notebooks in this environment"
	@echo "make env    create .venv from requirements/lock.txt (done by book and test)"
	@echo "make lint   ruff check"
	@echo "make clean  remove $(BUILD_DIR) and caches (keeps .venv; rm -rf .venv to start over)"

env: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python >= 3.11 is needed; '$(PYTHON)' is $$($(PYTHON) --version 2>&1). Try: make env PYTHON=python3.11"; exit 1; }
	@test -x $(BIN)/python || { echo "creating $(VENV) with $$($(PYTHON) --version)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing requirements/lock.txt into $(VENV) (a few minutes the first time)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt 2>&1 | $(PIP_QUIET)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | $(PIP_QUIET)
	@# the kernel papermill and nbval start: this venv's python (sys.prefix kernelspec)
	@$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cbec)" >/dev/null
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; exit 1; }
	@touch $(STAMP)
	@echo "environment ready: $(VENV) ($$($(BIN)/python --version))"

book: env
	$(BIN)/python -m cbec book $(BOOK_ARGS)

run: env
	$(BIN)/python -m cbec run $(BOOK_ARGS)

# Chapter 8's Monte Carlo study on Dask (resumable: rerun the same command after a stop):
#   make montecarlo REPS=200 [SCHEDULER=tcp://host:8786] [MC_WORKERS=2] [MC_OUT=/tmp/mc-full]
# A LocalCluster with one process per core unless SCHEDULER names a running scheduler.
# `make montecarlo-summary MC_OUT=...` writes the committed aggregate to data/montecarlo/.
REPS ?= 200
SCHEDULER ?=
MC_WORKERS ?=
MC_OUT ?= $(abspath $(BUILD_DIR))/montecarlo
.PHONY: montecarlo montecarlo-summary
montecarlo: env
	$(BIN)/python -m cbec.analyses.montecarlo run --reps $(REPS) --out "$(MC_OUT)" \
		$(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(MC_WORKERS),--workers $(MC_WORKERS))

montecarlo-summary: env
	$(BIN)/python -m cbec.analyses.montecarlo summarise --out "$(MC_OUT)" --to data/montecarlo \
		--command "make montecarlo REPS=$(REPS)$(if $(SCHEDULER), SCHEDULER=$(SCHEDULER))"

# JupyterLab on the chapter notebooks with the project's kernel; outputs of a hand run go to
# $(BUILD_DIR)/lab-outputs. Any Spec choice can be changed in the notebook's `overrides`
# parameter, or for every notebook at once with SET="...".
lab: env
	CBEC_OUTPUT_DIR=$(abspath $(BUILD_DIR))/lab-outputs \
		$(if $(SET),CBEC_OVERRIDES="$(SET)") \
		$(BIN)/jupyter-lab --notebook-dir=notebooks $(LAB_ARGS)

lint: env
	$(BIN)/ruff check cbec tests scripts benchmarks notebooks

# One pytest call: unit tests, every notebook through nbval (fast mode), the book build.
# With CBEC_REAL_DATA set, the real-profile tests run too (skipped otherwise).
test: lint
	CBEC_FAST=1 CBEC_OUTPUT_DIR=$(abspath $(BUILD_DIR))/test-outputs \
		$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env \
		--durations=10 $(PYTEST_ARGS)

clean:
	rm -rf $(BUILD_DIR) .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
