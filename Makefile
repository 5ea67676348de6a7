# makeright: `make run` runs the whole system on embedded defaults; `make test` runs every check.
# Both set up what they need on a fresh clone (venv, packages, Prism, PostgreSQL running).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: run test lint typecheck unit setup clean bench histories

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) run.py

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.installed
	$(PY) -m mypy .

test: $(VENV)/.installed node_modules/.installed
	scripts/ensure-postgres
	scripts/ensure-chromium
	$(MAKE) --no-print-directory lint typecheck
	$(PY) -m pytest

# re-record tests/histories/ (README, "Changing a workflow"): only when no running case can be affected
histories: $(VENV)/.installed
	$(PY) scripts/record_histories.py

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@touch $@

# the benchmarks (minutes each, about an hour in all; figures go in bench/RESULTS.md by hand)
bench: $(VENV)/.bench-installed
	$(PY) bench/latency.py --sweep 4,8,10,12,14,16,20 --each 60
	$(PY) bench/plot.py
	$(PY) bench/latency.py 10 300
	$(PY) bench/burst.py 5000
	$(PY) bench/ingress.py
	scripts/ensure-postgres
	$(PY) bench/ingress.py --postgres --web-processes 2 --events 2000 --no-relay
	$(PY) bench/throughput.py 200
	$(PY) bench/simulate_day.py --hours 10 --reps 16 --out bench/results/simulate-day
	$(PY) bench/faults.py
	$(PY) bench/scale.py
	$(PY) bench/scale.py --workers 1
	$(PY) bench/memory.py 10000
	$(PY) bench/routing.py

clean:
	rm -rf var test-artifacts .pytest_cache .mypy_cache .ruff_cache
