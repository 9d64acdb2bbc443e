# The two commands of the README: `make run` and `make test`.
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: setup run test test-quick lint lock services-up services-down services-status bench

setup:
	./scripts/setup.sh

run: setup
	METASTORE_ENV_FILE=$${METASTORE_ENV_FILE:-config/embedded.env} .venv/bin/azul-metastore serve --host $(HOST) --port $(PORT)

test: setup
	./scripts/test.sh $(PYTEST_ARGS)

test-quick: setup
	.venv/bin/python -m pytest -m "not opensearch and not kafka and not s3 and not compat" $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

# Re-resolve the lock file (needs network access to PyPI; uv is fetched into a scratch venv).
lock:
	python3 -m venv /tmp/metastore-lock-venv && /tmp/metastore-lock-venv/bin/pip install -q uv
	/tmp/metastore-lock-venv/bin/uv pip compile pyproject.toml --extra dev --generate-hashes \
	  --python-version 3.11 -o requirements/lock.txt

# Real servers for development and tests (see services/README.md). SERVICES picks some of
# opensearch, opensearch-secure, kafka, s3; the default is opensearch, kafka and s3.
SERVICES ?=
services-up:
	python3 -m services up $(SERVICES)

services-down:
	python3 -m services down $(SERVICES)

services-status:
	python3 -m services status $(SERVICES)
