# Two commands for a newcomer: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint migrate venv dev-venv test-packages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.runtime
dev-venv: $(VENV)/.dev

migrate: venv
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/daphne -b $(HOST) -p $(PORT) brewverse.asgi:application

test: dev-venv test-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser tests drive Debian's chromium (Playwright's own browser download is not used), and the
# deploy tests put Debian's nginx in front of a daphne. Installed here when missing and we are root;
# otherwise those tests are skipped with a note (CI always has them).
TEST_PACKAGES := chromium nginx
test-packages:
	@missing=""; for p in $(TEST_PACKAGES); do command -v $$p >/dev/null || [ -x /usr/sbin/$$p ] || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's$$missing for the browser and deploy tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "missing$$missing: the tests that need it will be skipped (apt-get install$$missing)"; fi

lint: dev-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The benchmark (bench/, docs/performance.md): PostgreSQL and Redis must be running; it uses a fresh
# database of its own and Redis db 5 (BENCH_PG_URL, BENCH_REDIS_URL change them). BENCH_ARGS adds
# options, e.g. `make bench BENCH_ARGS="--name mybox"`.
.PHONY: bench bench-full

$(VENV)/.bench: requirements-bench.txt $(VENV)/.dev
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

bench: $(VENV)/.bench
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-full: $(VENV)/.bench
	$(BIN)/python -m bench.run --full $(BENCH_ARGS)

# The fault suite (faults/, docs/deploy.md): clients chat through two daphne processes while Redis and
# PostgreSQL restart, a daphne is SIGKILLed and connections drop. It starts a PostgreSQL cluster and a
# Redis of its own (needs redis-server and PostgreSQL's server binaries); the shared ones are not touched.
.PHONY: faults

faults: dev-venv
	$(BIN)/python -m pytest -m faults faults $(PYTEST_ARGS)
