# lookalike: `make demo` and `make test` set everything up from nothing.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
SHARED ?= ../shared/data
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-all lint bench results clean

setup: $(STAMP)

# torch first, pinned to the wheels on the local disk, then the project with its dev extra.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: setup
	LOOKALIKE_DEMO_DIR=$(SHARED)/samples bash scripts/demo.sh

test: setup
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest -q

test-all: setup
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest -q -m ''

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy src/lookalike

BENCH_SIZES ?= 10000,100000

bench: setup
	$(PY) benchmarks/embed_throughput.py --data $(SHARED)/ukbench-a
	$(PY) benchmarks/library.py --images $(SHARED)/ukbench-a --sizes $(BENCH_SIZES)
	$(PY) benchmarks/pairs.py --sizes $(BENCH_SIZES)

results: setup
	$(PY) benchmarks/results.py --data $(SHARED) --out docs/results.md

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
