# Two commands on a fresh machine: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench image clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("allhands needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/allhands demo

test: $(STAMP)
	$(BIN)/ruff check bot connectors tests benchmarks
	$(BIN)/ruff format --check bot connectors tests benchmarks
	$(BIN)/mypy
	scripts/with_postgres.sh $(BIN)/pytest

# The container image; CI builds it only where docker runs (see .ci/run).
image:
	docker build -t allhands .

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py

clean:
	rm -rf $(VENV) build *.egg-info
