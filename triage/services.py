"""The long-lived parts a running product shares: settings, store, classifier, Slack client.

Built once per process (CLI command, `triage serve`, a test) and passed to the pipeline,
so nothing reaches for globals and tests can build their own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from .config import Settings, get_settings
from .db import get_engine


class ModelMissingError(RuntimeError):
    pass


@dataclass
class Services:
    settings: Settings
    engine: Engine
    _classifier: Any = None
    _slack_client: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, engine: Engine | None = None) -> "Services":
        settings = settings or get_settings()
        return cls(settings=settings, engine=engine or get_engine(settings))

    @property
    def classifier(self):
        """The trained classifier, loaded on first use (raises ModelMissingError with what to do)."""
        with self._lock:
            if self._classifier is None:
                from classifiers import load_classifier

                self._classifier = load_classifier(self.settings.model_dir)
            return self._classifier

    def set_classifier(self, classifier) -> None:
        with self._lock:
            self._classifier = classifier

    @property
    def slack_client(self):
        """slack_sdk WebClient against TRIAGE_SLACK_API_URL, or None when Slack is off."""
        if self.settings.slack_bot_token is None:
            return None
        with self._lock:
            if self._slack_client is None:
                from slack_sdk import WebClient

                self._slack_client = WebClient(
                    token=self.settings.slack_bot_token.get_secret_value(),
                    base_url=self.settings.slack_api_url,
                    timeout=15,
                )
            return self._slack_client
