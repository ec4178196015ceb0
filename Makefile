# Two commands: `make run` starts the app, `make test` runs the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.app: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.app $@

run: $(VENV)/.app
	$(BIN)/streamlit run app.py --server.port $(PORT)

test: $(VENV)/.dev
	$(BIN)/python -m pytest

# Everything below reproduces the committed models and the README's numbers (DIGITLIB_MNIST and DATA must point at the data).
DATA ?= ../shared/data
MODELS := mlp cnn digitnet digitnet2 digitnet3 digitnet4 drawnet drawnet2 drawnet3 drawnet4 studionet mnistnet mildnet pairnet shiftnet quicknet quicknet2

.PHONY: models results

models: $(VENV)/.app
	for m in $(MODELS); do $(BIN)/python -m digitlib train --model $$m || exit 1; done

results: $(VENV)/.app
	$(BIN)/python -m digitlib export
	for m in $(MODELS); do \
	  $(BIN)/python -m digitlib calibrate --model $$m --digits $(DATA)/drawn_dev.npz --nondigits $(DATA)/nondigit_dev.npz && \
	  $(BIN)/python -m digitlib evaluate --model $$m && \
	  $(BIN)/python -m digitlib evaluate --model $$m --drawings $(DATA)/drawn_dev.npz && \
	  $(BIN)/python -m digitlib evaluate --model $$m --drawings $(DATA)/nondigit_dev.npz || exit 1; \
	done
	$(BIN)/python -m digitlib bench
	$(BIN)/python -m digitlib report
