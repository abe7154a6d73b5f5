"""Dovecot fixtures: one real server per test session, a fresh mail user per test.

The server itself lives in triage/devtools/dovecot.py (the demo and benchmarks use it too).
"""

from __future__ import annotations

import pytest

from triage.devtools.dovecot import DovecotServer, dovecot_reason

_shared: dict = {"server": None, "users": 0}


@pytest.fixture(scope="session")
def dovecot_server():
    """One Dovecot for the whole test session.

    Test modules import this fixture (`from dovecot import dovecot, dovecot_server`); pytest then
    holds one fixture definition per module, so the server itself is shared here and stopped
    when the last of them is torn down (at the end of the session).
    """
    reason = dovecot_reason()
    if reason:
        pytest.skip(reason)
    if _shared["server"] is None:
        _shared["server"] = DovecotServer().start()
    _shared["users"] += 1
    try:
        yield _shared["server"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            _shared["server"].cleanup()
            _shared["server"] = None


@pytest.fixture
def dovecot(dovecot_server):
    """The session's Dovecot, with a fresh mail user for this test as `.user`/`.password`."""
    if dovecot_server.proc is None or dovecot_server.proc.poll() is not None:
        dovecot_server.start()
    u = dovecot_server.new_user("t")
    dovecot_server.wait_login(u.user, u.password)
    old = (dovecot_server.user, dovecot_server.password)
    dovecot_server.user, dovecot_server.password = u.user, u.password
    yield dovecot_server
    dovecot_server.user, dovecot_server.password = old
