# Every target sets up its own virtual environment in .venv (only Python and pip needed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.installed-dev

.PHONY: help install dev demo test test-fast bench lint clean

help:
	@echo "make demo   - set up and train LeNet-5 on the bundled digits (lamina train), writing runs/<run>/"
	@echo "make test   - set up (with PyTorch as the test oracle) and run the whole test suite"
	@echo "make bench  - lamina vs PyTorch, side by side (steps per second and ratio)"
	@echo "make lint   - ruff"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -e .
	@touch $@

# mpi4py (the [mpi] extra) only where an MPI library is installed: the tests of
# lamina.distributed need it and skip, saying why, without it
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -e ".[dev]"
	if command -v mpirun >/dev/null 2>&1; then $(PIP) install -e ".[mpi]"; fi
	@touch $@

install: $(VENV)/.installed

dev: $(STAMP)

# the default run needs scikit-learn (digits); matplotlib draws its plots, tqdm its bar;
# numba (fast) compiles the convolution kernels the README's "about 10 s" was measured with
$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PIP) install -e ".[data,plot,progress,fast]"
	@touch $@

demo: $(VENV)/.installed-demo
	$(VENV)/bin/lamina train
	@echo "run directory: $$(ls -td runs/*/ | head -1)"

# the whole suite, then the op-level tests again on the reference floor alone (every fast
# path in lamina/kernels off): values and gradients must be PyTorch's on both
test: $(STAMP)
	$(PY) -m pytest
	LAMINA_NUMBA=0 $(PY) -m pytest tests/ops tests/kernels tests/nn tests/optim tests/models tests/linalg

test-fast: $(STAMP)
	HYPOTHESIS_PROFILE=dev $(PY) -m pytest -x

bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	$(PY) -m ruff check lamina tests bench examples

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache *.egg-info
