# Two commands do all the set-up on a fresh machine: `make report` and `make test`.
# Both create .venv (if absent) and install the package editable with its dependencies.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= reports
# Notebooks `make report` runs at a time: each trains on one core.
JOBS   ?= 2
# Threads: tiny fits and models run faster single-threaded BLAS on small machines.
export OPENBLAS_NUM_THREADS ?= 1

# The browser tests drive Debian's Chromium (no Playwright browser download: that needs the internet).
CHROMIUM ?= /usr/bin/chromium
LAB_PORT ?= 8888

.PHONY: report report-smoke test lab bench venv browser clean

venv: $(STAMP)

# --no-cache-dir: the install takes only the venv's space (a CI run once failed on a full disk).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --no-cache-dir -e '.[test]'
	touch $(STAMP)

report: $(STAMP)  ## run every notebook on its defaults, write $(OUT)/index.html
	$(BIN)/python -m workbench report --jobs $(JOBS) --out $(OUT)

report-smoke: $(STAMP)  ## the same on each notebook's small parameters
	$(BIN)/python -m workbench report --smoke --jobs $(JOBS) --out $(OUT)

# Installs Chromium with apt when it is missing and we are root; otherwise says why the browser tests
# (tests/test_browser_*.py) will be skipped. Never fails the build by itself.
browser:  ## Chromium for the browser tests
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium (apt-get) for the browser tests ..."; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || \
	  echo "note: apt-get could not install chromium: the browser tests will be skipped"; \
	else echo "note: $(CHROMIUM) is missing and cannot be installed here (needs root and apt-get):" \
	  "the browser tests will be skipped; set WORKBENCH_CHROMIUM to another Chromium"; fi

test: $(STAMP) browser  ## the test suite (browser tests included)
	$(BIN)/python -m pytest

lab: $(STAMP)  ## JupyterLab on notebooks/ with the package importable; prints the URL to open
	$(BIN)/python -m jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 --port=$(LAB_PORT) \
	  --no-browser $$([ "$$(id -u)" = 0 ] && echo --allow-root)

bench: $(STAMP)  ## side-by-side performance measurements (about 10 minutes)
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_sweep.py --default-adam-too
	$(BIN)/python benchmarks/bench_sweep.py --default-adam-too --threads 2
	$(BIN)/python benchmarks/bench_workers.py
	$(BIN)/python benchmarks/bench_costtune.py

clean:
	rm -rf $(OUT) .pytest_cache
