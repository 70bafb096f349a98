# Two commands do all the set-up on a fresh machine:
#   make demo   - installs fkd and runs the tracker on the embedded demo clip
#   make test   - installs fkd with its training and test extras and runs the suite
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test bench install install-dev

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

demo: install
	$(BIN)/fkd-track --video examples/demo.mp4 --out examples/demo-annotated.mp4 --json examples/demo-annotated.jsonl --no-show

test: install-dev
	$(BIN)/pytest -q

bench: install-dev
	$(BIN)/python benchmarks/bench_pipeline.py
