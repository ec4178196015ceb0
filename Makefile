# Two commands: `make run` starts the app, `make test` runs the checks and the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test models results app-results

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.app: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.train: requirements.txt requirements-train.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-train.txt
	touch $(VENV)/.app $@

$(VENV)/.dev: requirements.txt requirements-train.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.app $(VENV)/.train $@

run: $(VENV)/.app
	$(BIN)/streamlit run app.py --server.port $(PORT)

test: $(VENV)/.dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2

# Every model and every figure of docs/results.md and the README. The drawn sets are read from
# $DIGITLIB_DATA, by default the folder of $DIGITLIB_MNIST.
models: $(VENV)/.train
	$(BIN)/python -m digitlib train --all

results: $(VENV)/.train
	$(BIN)/python -m digitlib measure
	$(BIN)/python -m digitlib bench
	$(BIN)/python -m digitlib report --write docs/results.md

# The app itself, in headless Chromium: one person drawing, then 20 at once (docs/results.md's "The app").
app-results: $(VENV)/.dev
	$(BIN)/python scripts/bench_strokes.py --strokes 20 --out docs/app_strokes.json
	$(BIN)/python scripts/bench_load.py --out docs/app_load.json
	$(BIN)/python -m digitlib report --write docs/results.md
