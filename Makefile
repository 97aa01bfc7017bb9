# Two commands do all the set-up on a fresh machine: `make report` and `make test`.
# Both create .venv (if absent) and install the package editable with its dependencies.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= reports
# Threads: tiny fits and models run faster single-threaded BLAS on small machines.
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: report report-smoke test lab bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

report: $(STAMP)  ## run every notebook on its defaults, write $(OUT)/index.html
	$(BIN)/python -m workbench report --out $(OUT)

report-smoke: $(STAMP)  ## the same on each notebook's small parameters
	$(BIN)/python -m workbench report --smoke --out $(OUT)

test: $(STAMP)  ## the test suite
	$(BIN)/python -m pytest

lab: $(STAMP)  ## JupyterLab on notebooks/ with the package importable
	$(BIN)/python -m jupyter lab --notebook-dir=notebooks

bench: $(STAMP)  ## side-by-side performance measurements
	$(BIN)/python benchmarks/bench_fit.py

clean:
	rm -rf $(OUT) .pytest_cache
