# lookalike: `make demo` and `make test` set everything up from nothing.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
SHARED ?= ../shared/data
STAMP  := $(VENV)/.installed

.PHONY: setup lock demo test test-all lint bench results snapshots clean stress fuzz

setup: $(STAMP)

# torch first, pinned to the wheels on the local disk, then the project with its dev extra, every
# package at the version constraints.txt pins (what CI tests is what was tested).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1 -c constraints.txt
	$(PY) -m pip install -q -e '.[dev]' -c constraints.txt
	touch $(STAMP)

# Refreshes constraints.txt: resolves the project's dependencies anew in a throw-away venv and pins
# every version it got. Run it deliberately, run `make test`, and commit constraints.txt on its own.
LOCK_VENV ?= build/lock-venv
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(LOCK_VENV)/bin/python -m pip install -q -e '.[dev]'
	( echo "# Exact versions for \`make setup\` (made by \`make lock\`; refresh deliberately)."; \
	  $(LOCK_VENV)/bin/python -m pip freeze --exclude-editable | grep -v '^lookalike' ) > constraints.txt
	rm -rf $(LOCK_VENV)

demo: setup
	LOOKALIKE_DEMO_DIR=$(SHARED)/samples bash scripts/demo.sh

# Tests run in TEST_WORKERS processes (pytest-xdist; 0: one process, as `make stress` and `make fuzz` do).
TEST_WORKERS ?= 2

test: setup
	bash scripts/ensure_chromium.sh
	bash scripts/ensure_pgvector.sh
	$(PY) -m pytest -q --durations=20 -n $(TEST_WORKERS) --dist worksteal

test-all: setup
	bash scripts/ensure_chromium.sh
	bash scripts/ensure_pgvector.sh
	$(PY) -m pytest -q -m ''

# Reliability: `make test` runs the quick form (4 SIGKILL runs, 15 s of fuzzing, 4 big uploads); these run longer.
# The web section: 16 concurrent 99.8 MP uploads, jobs cancelled after 30 s unwatched, 64 pictures.
STRESS_RUNS ?= 20
STRESS_FUZZ_SECONDS ?= 120
STRESS_WEB ?= STRESS_WEB_UPLOADS=16 STRESS_JOB_IDLE=30 STRESS_WEB_IMAGES=64
FUZZ_SECONDS ?= 600

stress: setup
	STRESS_RUNS=$(STRESS_RUNS) FUZZ_SECONDS=$(STRESS_FUZZ_SECONDS) $(STRESS_WEB) $(PY) -m pytest -q -p no:cacheprovider \
		--timeout $$(( $(STRESS_FUZZ_SECONDS) + 600 )) tests/reliability

fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(PY) -m pytest -q -p no:cacheprovider --timeout $$(( $(FUZZ_SECONDS) + 600 )) \
		tests/reliability/test_fuzz_decode.py

# Rewrites tests/snapshots/ and the README's console blocks from what the program prints now.
snapshots: setup
	$(PY) -m pytest -q tests/e2e/test_snapshots.py tests/e2e/test_readme.py tests/web/test_browser.py --update-snapshots

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy src/lookalike

BENCH_SIZES ?= 10000,100000

bench: setup
	$(PY) benchmarks/embed_throughput.py --data $(SHARED)/ukbench-a
	$(PY) benchmarks/onnx_backend.py --data $(SHARED)/ukbench-a/images --work build/bench-onnx
	$(PY) benchmarks/library.py --images $(SHARED)/ukbench-a --sizes $(BENCH_SIZES)
	$(PY) benchmarks/pairs.py --sizes $(BENCH_SIZES)
	$(PY) benchmarks/join_recall.py --size 200000 --dim 1280
	$(PY) benchmarks/serve.py --samples $(SHARED)/samples --vectors 10000
	$(PY) benchmarks/duplicates_quality.py --data $(SHARED)

results: setup
	$(PY) benchmarks/results.py --data $(SHARED) --out docs/results.md

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
