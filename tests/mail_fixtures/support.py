"""Helpers for the mail tests: the corpus, a store with the register, Services against Dovecot.

`mail_classifier(request)` gives the real trained classifier (the `trained_classifier`
session fixture) when the suite has one; until then a small stand-in that links homes by
name, so the mail path is exercised end to end either way.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlmodel import Session, select

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build_corpus import LARGE_EXPECT, LARGE_NAME, large_message  # noqa: E402


def crlf(raw: bytes) -> bytes:
    """IMAP wants CRLF line ends; the committed files use LF to stay readable."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def expected() -> dict[str, dict]:
    return json.loads((HERE / "expected.json").read_text())


def corpus(include_large: bool = True) -> list[tuple[str, bytes]]:
    """(name, raw CRLF bytes) for every fixture message, the generated 15 MB one included."""
    out = [(p.name, crlf(p.read_bytes())) for p in sorted(HERE.glob("*.eml"))]
    if include_large:
        out.append((LARGE_NAME, crlf(large_message())))
        out.sort()
    return out


def large_expectation() -> dict:
    return dict(LARGE_EXPECT)


@dataclass
class _Result:
    providers: list[str]
    urgency: str = "medium"
    model_version: str = "stand-in-0"
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"providers": self.providers, "domains": ["safe"], "topics": [], "safeguarding": [],
                "urgency": self.urgency, "confidence": {"providers": {p: 0.9 for p in self.providers}},
                "evidence": self.evidence, "model_version": self.model_version}


class StandInClassifier:
    """Links a concern to every register location named in it; used only until the real one exists."""

    model_version = "stand-in-0"

    def classify(self, text, *, subject=None, sender=None, session=None, cleaned=True):
        from models import Location

        providers: list[str] = []
        if session is not None:
            hay = f"{subject or ''}\n{text}".lower()
            for loc in session.exec(select(Location)).all():
                names = [loc.name] + list(loc.also_known_as or [])
                if any(n and n.lower() in hay for n in names):
                    providers.append(loc.location_id)
        return _Result(providers=providers)


def mail_classifier(request):
    try:
        return request.getfixturevalue("trained_classifier")
    except pytest.FixtureLookupError:
        return StandInClassifier()


def trained_model_dir(request) -> Path | None:
    """Where the session's `trained_classifier` fixture saved its model (for CLI subprocesses), if any."""
    try:
        request.getfixturevalue("trained_classifier")
    except pytest.FixtureLookupError:
        return None
    base = request.config._tmp_path_factory.getbasetemp()
    found = sorted(p.parent for p in base.glob("classifier*/current"))
    return found[0] if found else None


def load_register(engine, register_dir: Path) -> None:
    from triage.register_import import import_register

    with Session(engine) as session:
        import_register(session=session, directory=register_dir / "cqc_directory.csv",
                        ratings=register_dir / "ratings.csv", officers=register_dir / "officers.csv",
                        portfolio=register_dir / "portfolio.csv")


def imap_settings(server, **extra) -> dict:
    out = dict(imap_host=server.host, imap_port=server.port, imap_user=server.user, imap_password=server.password,
               imap_tls=False, imap_poll_seconds=0.5, imap_idle_seconds=30, imap_max_backoff_seconds=1.0)
    out.update(extra)
    return out
