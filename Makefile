# make run: set up, migrate, load the protocols and demo data, serve on http://127.0.0.1:5000
# make test: set up and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(PY) -m flask --app app

.PHONY: install run test test-postgres lint format clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# The web app, its scheduler (one process) and a local mail sink whose emails go to instance/mail.log.
MAIL_SINK_PORT := 8025

run: install
	$(FLASK) db upgrade
	$(FLASK) ecrf load-protocols
	$(FLASK) ecrf demo
	@echo "Serving on http://127.0.0.1:5000 (Ctrl-C to stop); scheduler log: instance/scheduler.log; emails: instance/mail.log"
	@$(PY) -m aiosmtpd -n -l 127.0.0.1:$(MAIL_SINK_PORT) -c aiosmtpd.handlers.Debugging > instance/mail.log 2>&1 & SINK=$$!; \
	MAIL_PORT=$(MAIL_SINK_PORT) $(FLASK) ecrf scheduler > instance/scheduler.log 2>&1 & SCHEDULER=$$!; \
	trap 'kill $$SINK $$SCHEDULER 2>/dev/null' EXIT INT TERM; \
	MAIL_PORT=$(MAIL_SINK_PORT) $(FLASK) run --host 127.0.0.1 --port 5000

test: install
	$(PY) -m pytest

# The suite on PostgreSQL (default: the local server's database `test`).
test-postgres: install
	ECRF_TEST_DATABASE_URL=$${ECRF_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} $(PY) -m pytest

# ruff (format check and lint) and mypy, configured in pyproject.toml; zero findings expected.
lint: install
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy

# Apply ruff's formatting and safe fixes.
format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis
