# bianmin — entry points. `make run` starts the assistant; `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
RASA    := $(PY) -m rasa
STAMP   := $(VENV)/.installed
MODEL   := models/bianmin.tar.gz
# Everything the model is built from. Code, the jieba dictionary and lexicons are not in Rasa's own
# fingerprint, so a change there forces a full retrain (see the train recipe).
TRAIN_DATA  := $(shell find bot/domain bot/data nlu_data/nlu -name '*.yml' 2>/dev/null) bot/config.yml
TRAIN_CODE  := $(shell find bot/components nlu_data/jieba nlu_data/lookups -type f -not -name '*.pyc' 2>/dev/null) knowledge/gazetteer.yml
RASA_DATA   := --config bot/config.yml --domain bot/domain --data nlu_data/nlu bot/data
export TF_CPP_MIN_LOG_LEVEL ?= 2
export SQLALCHEMY_SILENCE_UBER_WARNING ?= 1
export RASA_TELEMETRY_ENABLED ?= false

.PHONY: help install run train test validate story-test pytest eval cv bench lock clean

help:
	@echo "make run    — install if needed, train if data changed, start the assistant (http://127.0.0.1:8080/)"
	@echo "make test   — install if needed, train if needed, validate data, test stories, run pytest"
	@echo "make eval   — NLU evaluation on the held-out set (report in var/reports/)"
	@echo "make cv     — 5-fold cross-validation of bot/config.yml on the training data (how pipeline choices are made)"
	@echo "make bench  — benchmarks (numbers in var/reports/, summarised in the README)"

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock scripts/find_python.sh
	@set -e; PY310=$$(scripts/find_python.sh); \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then \
	  echo "Creating $(VENV) with $$PY310"; rm -rf $(VENV); $$PY310 -m venv $(VENV); fi
	$(PY) -m pip install -q --upgrade "pip>=23.2" "setuptools>=64" wheel
	$(PY) -m pip install -q -c requirements.lock -e '.[test]'
	@touch $@

train: $(MODEL)

$(MODEL): $(STAMP) $(TRAIN_DATA) $(TRAIN_CODE)
	@mkdir -p models var/log
	@FORCE=; if [ -f $(MODEL) ] && [ -n "$$(find $(TRAIN_CODE) -newer $(MODEL) 2>/dev/null)" ]; then FORCE=--force; fi; \
	echo "Training the model $$FORCE (log: var/log/train.log) ..."; \
	$(RASA) train $(RASA_DATA) --out models --fixed-model-name bianmin $$FORCE > var/log/train.log 2>&1 \
	  || { tail -40 var/log/train.log; exit 1; }
	@tail -2 var/log/train.log
	@touch $@

run: $(STAMP) $(MODEL)
	$(VENV)/bin/bianmin db upgrade
	$(VENV)/bin/bianmin run

validate: $(STAMP)
	$(RASA) data validate $(RASA_DATA) --max-history 5

story-test: $(STAMP) $(MODEL)
	$(RASA) test core --model $(MODEL) --stories tests/stories --fail-on-prediction-errors --out var/results/core

pytest: $(STAMP) $(MODEL)
	$(PY) -m pytest $(PYTEST_ARGS)

test: validate story-test pytest

eval: $(STAMP) $(MODEL)
	$(PY) -m bench.eval_nlu
	$(PY) -m bench.eval_routing

cv: $(STAMP)
	$(PY) -m bench.cv_nlu $(CV_ARGS)
	$(PY) -m bench.eval_routing --cv

bench: $(STAMP) $(MODEL)
	$(PY) -m bench.nlu_latency
	$(PY) -m bench.faq_retrieval
	$(PY) -m bench.cases_throughput
	$(PY) -m bench.complaint_conversation --spawn
	$(PY) -m bench.startup

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v '^bianmin' > requirements.lock

clean:
	rm -rf models var/results .rasa
