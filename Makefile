# The two entry points a new user needs; both build .venv themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,parquet]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m pardata.demo

test: $(STAMP)
	$(PY) -m pytest -q

$(VENV)/.bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,parquet,bench]'
	touch $(VENV)/.bench

# make bench NAME=tree_sum ARGS="--size 20000"
bench: $(VENV)/.bench
	$(PY) -m benchmarks $(NAME) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache benchmarks/results
