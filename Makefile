# Two entry points: `make run` (the main job on the bundled demo pair) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# torch is pinned to the CPU build that lies on this machine's disk (pip takes it from there).
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/llrr demo --out-dir outputs

lint: $(STAMP)
	$(BIN)/ruff check llrr solvers unrolled tests benchmarks

test: $(STAMP) lint
	$(BIN)/python -m pytest tests

bench: $(STAMP)
	$(BIN)/python -m benchmarks.report

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
