# The two entry points a new user needs; both build .venv themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean browser nftables

# The browser tests drive Debian's Chromium (never a browser Playwright downloads);
# installed here when missing and we may (root), so `make test` works on a fresh machine.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: /usr/bin/chromium is missing; the browser tests will fail (apt-get install -y chromium)"; \
	  fi; \
	fi

# The multihost tests (tests/multihost) partition hosts and drop packets with nftables;
# installed here when missing and we may (root), as for the browser tests.
nftables:
	@if ! command -v nft >/dev/null && [ ! -x /usr/sbin/nft ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null; \
	  else \
	    echo "note: nft is missing; the multihost tests will fail (apt-get install -y nftables)"; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,parquet]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m pardata.demo

test: $(STAMP) browser nftables
	$(PY) -m pytest -q

$(VENV)/.bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,parquet,bench]'
	touch $(VENV)/.bench

# make bench NAME=tree_sum ARGS="--size 20000"
bench: $(VENV)/.bench
	$(PY) -m benchmarks $(NAME) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache benchmarks/results
