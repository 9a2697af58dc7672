# quantray: the README's commands. Everything installs into ./.venv from a clean clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
LINT_PATHS := $(wildcard quantray jobs serve tests benchmarks infra)
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export RAY_AUTH_MODE ?= disabled
export RAY_USAGE_STATS_ENABLED ?= 0
export PYTHONDONTWRITEBYTECODE ?=

.PHONY: install demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	$(PIP) install --quiet -e '.[dev,serve,live,reports]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## make demo: the main job on the embedded default (local Ray, the bundled real S&P 500 sample); prints results
demo: $(STAMP)
	$(PY) -m jobs.sweep --config jobs/configs/sample.yaml

## make test: install everything, lint, type-check and run the whole test suite
test: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy quantray
	$(VENV)/bin/pytest -q -p no:cacheprovider --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

typecheck: $(STAMP)
	$(VENV)/bin/mypy quantray

## make bench: the side-by-side performance harnesses (quantray vs the library a user would otherwise pick);
## prints tables, writes JSON under benchmarks/results/
bench: $(STAMP)
	$(PY) -m benchmarks.w1_sma_grid
	$(PY) -m benchmarks.w2_many_params
	$(PY) -m benchmarks.w3_ray_scaling
	$(PY) -m benchmarks.w4_montecarlo
	$(PY) -m benchmarks.w5_deap
	$(PY) -m benchmarks.w6_tune
	$(PY) -m benchmarks.w7_stream
	$(PY) -m benchmarks.w8_serve

clean:
	find quantray -name '__pycache__' -type d -prune -exec rm -rf {} +
