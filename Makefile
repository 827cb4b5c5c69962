# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format collectstatic migrations-check vendor

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py first_login
	@echo "Open http://$(HOST):$(PORT)/"
	$(BIN)/daphne -b $(HOST) -p $(PORT) chatsite.asgi:application

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

collectstatic: install
	$(BIN)/python manage.py collectstatic --noinput

# Re-fetch the pinned browser libraries from npm into static/vendor/ (see vendor/vendor.py).
vendor:
	python3 vendor/vendor.py
