# evclip: `make test` and `make demo` work on a fresh machine that has nothing but Python.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build on machines without a GPU; override e.g. TORCH_SPEC='torch==2.5.1'.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.evclip-setup

.PHONY: setup test lint format bench clean

setup: $(STAMP)

# A torch the user already has (e.g. their own CUDA build) is kept: the venv then sees the system
# site-packages. Otherwise the CPU build is installed where there is no GPU, and PyPI's CUDA build
# where nvidia-smi finds one. No nvidia package may land on a machine without a GPU.
$(STAMP): pyproject.toml Makefile
	@if $(PYTHON) -c "import torch" 2>/dev/null; then \
		echo "keeping the torch of $(PYTHON)"; $(PYTHON) -m venv --system-site-packages $(VENV); \
	else \
		$(PYTHON) -m venv $(VENV); \
	fi
	$(PIP) install -q --upgrade pip
	@if $(PY) -c "import torch" 2>/dev/null; then \
		echo "torch present: $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		$(PIP) install -q torch; \
	else \
		$(PIP) install -q "$(TORCH_SPEC)"; \
	fi
	$(PIP) install -q -e ".[dev]"
	@if ! (command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1) && \
		$(PIP) list 2>/dev/null | grep -qi '^nvidia-'; then \
		echo "error: nvidia/CUDA packages were installed on a machine without a GPU" >&2; exit 1; \
	fi
	@touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

format: setup
	$(VENV)/bin/ruff check --fix src tests bench
	$(VENV)/bin/ruff format src tests bench

test: lint
	HF_HUB_OFFLINE=1 $(VENV)/bin/pytest -p no:cacheprovider

bench: setup
	$(PY) bench/representations.py
	$(PY) bench/simulate.py
	$(PY) bench/clip_preprocess.py
	$(PY) bench/safe_clip_calls.py
	$(PY) bench/zeroshot_text.py
	$(PY) bench/feature_cache.py
	$(PY) bench/safe_step.py
	$(PY) bench/safe_inference.py

# The main job: build the offline benchmark, train SAFE and its RGB-only / events-only floors on
# the shipped tiny CLIP, and write DEMO_OUT/report (report.md, metrics.json, plots). Re-running
# continues where it stopped. E.g. make demo DEMO_ARGS="--seeds 3".
DEMO_OUT ?= demo_out
DEMO_ARGS ?=
.PHONY: demo
demo: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/evclip demo $(DEMO_OUT) $(DEMO_ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
