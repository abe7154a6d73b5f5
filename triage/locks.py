"""Run-exactly-once across processes: only one `triage serve` reads the mailbox or runs a job.

PostgreSQL: session-level advisory locks (released if the holder dies, as its connection
drops). SQLite: an flock on a file beside the database (one host only, as SQLite is).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def _key(name: str) -> int:
    # Stable 63-bit key: Python's hash() changes between processes.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


@contextmanager
def exclusive(name: str, *, engine: Engine) -> Iterator[bool]:
    """Yield True when this process holds the lock named ``name``, False when another does.

    Never blocks: a job that finds the lock taken should skip its run.
    """
    if engine.dialect.name == "postgresql":
        conn = engine.connect()
        try:
            got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(name)}).scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _key(name)})
                    conn.commit()
        finally:
            conn.close()
        return
    db_path = engine.url.database
    base = Path(db_path).parent if db_path and db_path != ":memory:" else Path(os.environ.get("TMPDIR", "/tmp"))
    lock_dir = base / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    fname = hashlib.sha1(f"{db_path}:{name}".encode()).hexdigest()[:16]
    fd = os.open(lock_dir / f"{fname}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            got = True
        except BlockingIOError:
            got = False
        try:
            yield got
        finally:
            if got:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
