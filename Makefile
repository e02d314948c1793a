# Set-up and the two jobs of the README: `make demo` (the main job) and `make test` (the suite).
# Each creates .venv itself on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: venv data demo test test-oracle lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: on these machines 2.13.0 is a local CPU build, while an unpinned
	# torch would pull several GB of CUDA packages. The package itself only needs torch>=2.3.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP)

# Fashion-MNIST is Debian's package dataset-fashion-mnist; elsewhere set CNNZOO_DATA or pass --data.
data:
	@if [ ! -f $(FMNIST)/t10k-labels-idx1-ubyte.gz ] && [ -z "$$CNNZOO_DATA" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	  else echo "Fashion-MNIST not found: install Debian's dataset-fashion-mnist or set CNNZOO_DATA"; fi; \
	fi

# The main job: train the fastest recipe (resnet8_fast: ResNet-8 ×2, 4 epochs, ≈ 93 % in under 3 minutes)
# on Fashion-MNIST and print the test accuracy; the run lands in runs/demo-<time>/ and runs/demo points
# at the latest one (the run that the README's examples load)
demo: venv data
	@name=demo-$$(date +%Y%m%d-%H%M%S) && $(VENV)/bin/cnnzoo train --config resnet8_fast --name $$name \
	  && ln -sfn $$name runs/demo && echo "runs/demo -> runs/$$name"

lint: venv
	$(PY) -m ruff check .

# The suite of a clean machine: side-by-side checks against timm/torchvision (tests marked
# needs_oracle) are skipped here even where the oracle env exists; `make test-oracle` runs them.
# Two pytest-xdist workers, one test file each at a time (a file's module fixtures run once), one
# PyTorch thread each (tests/conftest.py): both cores stay busy through the single-threaded parts.
test: venv data lint
	CNNZOO_ORACLE=none $(PY) -m pytest -q -n 2 --dist loadfile --durations=15

ORACLE_ENV ?= /tmp/reference-env
test-oracle: venv
	@test -x $(ORACLE_ENV)/bin/python || ../shared/reference/make-reference-env.sh $(ORACLE_ENV)
	CNNZOO_ORACLE=$(ORACLE_ENV)/bin/python $(PY) -m pytest -q -k "reference or oracle or layout"

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
