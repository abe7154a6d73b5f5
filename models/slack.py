"""Slack events already seen, so Slack's retries never create a second concern."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from .types import utc_column, utcnow


class SlackEventSeen(SQLModel, table=True):
    __tablename__ = "slack_event_seen"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False, index=True))
