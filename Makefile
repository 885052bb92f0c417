# Everything a fresh machine needs is installed by these targets (a virtualenv in .venv).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: install demo test lint bench bench-serving bench-sim clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[ml,serving,kubernetes,s3,dev]'
	command -v kubectl >/dev/null || (apt-get update -qq && apt-get install -y -qq kubectl)
	touch $(STAMP)

install: $(STAMP)

## Start the embedded platform, run the digits pipeline end to end, print the results.
demo: $(STAMP)
	$(BIN)/python examples/demo.py

## The whole test suite (unit, contract, integration).
test: $(STAMP)
	$(BIN)/pytest -q

## Static checks: ruff, mypy --strict, and the layer contract.
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/ruff format --check src tests benchmarks examples scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python benchmarks/step_overhead.py

## Serving throughput/latency beside Seldon MLServer (own venv, benchmarks/.venv-mlserver), and
## autoscaling reaction times; needs wrk (installed with apt-get when missing).
bench-serving: $(STAMP)
	$(BIN)/python benchmarks/serving.py

## Admission on the sim runtime (Kueue's baseline shape), and how decision time grows with nodes.
bench-sim: $(STAMP)
	$(BIN)/python benchmarks/admission.py && $(BIN)/python benchmarks/sim_scale.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
