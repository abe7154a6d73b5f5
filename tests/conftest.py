"""Shared fixtures: a fresh store on SQLite and PostgreSQL, settings, a controllable clock.

PostgreSQL tests use the server on 127.0.0.1:5432 (override with TRIAGE_TEST_PG_URL);
each pytest process gets its own database, dropped at the end. Where no server answers,
those tests are skipped with the reason shown.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from triage import clock as clock_mod
from triage.config import load_settings, reset_settings_cache
from triage.db import dispose_engines, make_engine, migrate

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PG_BASE = os.environ.get("TRIAGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_pg_state: dict = {}


def _pg_admin_engine():
    return sa.create_engine(PG_BASE, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


def _pg_reason() -> str | None:
    if "reason" not in _pg_state:
        try:
            with _pg_admin_engine().connect() as c:
                c.execute(sa.text("select 1"))
            _pg_state["reason"] = None
        except Exception as err:  # pragma: no cover - depends on the machine
            _pg_state["reason"] = f"no PostgreSQL at {PG_BASE}: {err.__class__.__name__}"
    return _pg_state["reason"]


def _new_pg_database() -> str:
    name = f"triage_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _pg_admin_engine().connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    _pg_state.setdefault("dbs", []).append(name)
    return PG_BASE.rsplit("/", 1)[0] + "/" + name


def pytest_sessionfinish(session, exitstatus):
    dispose_engines()
    for name in _pg_state.get("dbs", []):
        try:
            with _pg_admin_engine().connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception:
            pass


def fresh_database_url(kind: str, tmp_path: Path) -> str:
    """A new, migrated, empty store of the given kind ("sqlite" or "postgres")."""
    if kind == "postgres":
        reason = _pg_reason()
        if reason:
            pytest.skip(reason)
        url = _new_pg_database()
    else:
        url = f"sqlite:///{tmp_path}/triage.db"
    migrate(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    return fresh_database_url(request.param, tmp_path)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return fresh_database_url("sqlite", tmp_path)


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine):
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def settings_factory(tmp_path, monkeypatch):
    """Settings for a test: isolated from the developer's environment and var/."""
    for key in list(os.environ):
        if key.startswith("TRIAGE_") or key.startswith("SLACK_"):
            monkeypatch.delenv(key, raising=False)
    reset_settings_cache()

    def make(**overrides):
        base = dict(data_dir=tmp_path / "var", model_dir=tmp_path / "var" / "classifier")
        base.update(overrides)
        return load_settings(**base)

    yield make
    reset_settings_cache()


@pytest.fixture
def frozen_clock():
    fc = clock_mod.FrozenClock(datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc))
    clock_mod.set_clock(fc)
    yield fc
    clock_mod.reset_clock()


@pytest.fixture(scope="session")
def shared_register() -> Path:
    path = SHARED / "register"
    if not (path / "cqc_directory.csv").is_file():
        pytest.skip(f"the shared register is not beside the repo at {path}")
    return path


@pytest.fixture(scope="session")
def demo_register() -> Path:
    return REPO / "triage" / "demo_data" / "register"


@pytest.fixture(scope="session")
def trained_classifier(trained_model_dir):
    """The classifier trained once per test session (see trained_model_dir)."""
    from classifiers import load_classifier

    return load_classifier(trained_model_dir)


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory):
    """A model directory trained once per test session on a slice of the repo's training data (fast settings)."""
    from classifiers.data import load_directory
    from classifiers.model import load_config
    from classifiers.register_index import RegisterIndex
    from classifiers.train import train

    examples = load_directory(REPO / "training_data")
    # Every urgency level and label stays represented: take every third example.
    examples = examples[::3] if len(examples) > 900 else examples
    config = load_config()
    config["cv"]["folds"] = 3
    config["features"].update(word_max_features=15000, char_max_features=15000)
    directory = SHARED / "register" / "cqc_directory.csv"
    index = RegisterIndex.from_cqc_directory(directory) if directory.is_file() else None
    model_dir = tmp_path_factory.mktemp("classifier")
    train(examples, model_dir=model_dir, index=index, config=config)
    return model_dir
