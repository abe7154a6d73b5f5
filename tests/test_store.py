"""The store on SQLite and PostgreSQL: migrations match the models, audit is append-only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import Session

import models
from models import AuditEvent
from triage import audit, clock
from triage.db import migrate, schema_is_current


def test_migrations_match_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.metadata)
    assert diff == [], f"models and alembic/versions differ: run `make migration` ({diff[:3]})"
    assert schema_is_current(engine)


def test_migrate_is_idempotent(db_url, engine):
    migrate(db_url)
    migrate(db_url)
    assert schema_is_current(engine)


def test_audit_trail_is_append_only_in_the_database(engine):
    with Session(engine) as s:
        ev = audit.record(session=s, actor="cli:test", action="concern.viewed", entity_type="concern", entity_id=1)
        s.commit()
        event_id = ev.id
    with engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.text("UPDATE audit_event SET actor='someone else' WHERE id=:i"), {"i": event_id})
            conn.commit()
    with engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.text("DELETE FROM audit_event WHERE id=:i"), {"i": event_id})
            conn.commit()
    with Session(engine) as s:
        assert s.get(AuditEvent, event_id).actor == "cli:test"


def test_datetimes_round_trip_as_aware_utc(engine):
    when = clock.now().replace(microsecond=0)
    with Session(engine) as s:
        ev = audit.record(session=s, actor="a", action="x", entity_type="t", entity_id="1")
        ev.at = when
        s.commit()
        eid = ev.id
    with Session(engine) as s:
        got = s.get(AuditEvent, eid).at
    assert got == when and got.tzinfo is not None
