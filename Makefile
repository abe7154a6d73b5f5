# Care Concern Triage: the two commands a fresh machine needs are `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: demo test install install-test system-deps train bench clean migration

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python system-deps
	$(BIN)/pip install -q -e '.[test]'

# Dovecot is a real IMAP server the mail tests talk to; PostgreSQL is expected on 127.0.0.1:5432.
system-deps:
	@if ! command -v dovecot >/dev/null 2>&1; then \
		echo "Installing Debian packages for the test suite (dovecot-imapd)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dovecot-imapd >/dev/null; \
		$$SUDO systemctl disable --now dovecot >/dev/null 2>&1 || true; \
		$$SUDO pkill -x dovecot >/dev/null 2>&1 || true; \
	fi

demo: install system-deps
	$(BIN)/triage demo

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

train: install
	$(BIN)/triage train

bench: install-test
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/mail.py
	$(BIN)/python bench/e2e.py

# Regenerate the single initial migration from the models (pre-release only).
migration: install
	$(BIN)/python -m triage.devtools.regen_migration

clean:
	rm -rf var build *.egg-info .pytest_cache
