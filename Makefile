# The two commands: `make run` (set up and serve) and `make test` (set up and run the tests).
# Everything else here is a step they need; nothing must be installed by hand first.

VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# The tests get a cluster of their own, so they never see (or depend on) what you entered in `make run`.
TEST_ENV := GAZETTEER_HOME=$(or $(GAZETTEER_TEST_HOME),.gazetteer-test) \
            GAZETTEER_PG_PORT=$(or $(GAZETTEER_TEST_PG_PORT),55442)

.PHONY: run test setup install lint bench clean-db

run: setup
	$(BIN)/gazetteer serve --no-setup

test: install
	$(TEST_ENV) $(BIN)/gazetteer setup
	$(BIN)/ruff check .
	$(BIN)/python -m data.system chromium:chromium
	$(TEST_ENV) $(BIN)/python -m pytest

setup: install
	$(BIN)/gazetteer setup

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv; \
	  else echo "Python's venv module is missing: sudo apt-get install -y python3-venv"; exit 1; fi; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

lint: install
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python bench/locate.py
	$(BIN)/python bench/names.py
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/lookup.py
	$(BIN)/python bench/survey_reliability.py
	$(BIN)/python bench/ogc.py

clean-db:
	-$(BIN)/gazetteer db stop
	-$(TEST_ENV) $(BIN)/gazetteer db stop
	rm -rf .gazetteer/pg .gazetteer/pg-password .gazetteer-test/pg .gazetteer-test/pg-password
