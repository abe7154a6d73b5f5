"""Append-only audit trail: who saw and changed what, and what the system did."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from .types import json_dict_column, utc_column, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False, index=True))
    actor: str = Field(max_length=128)  # officer ID, "slack:U123", "system:mail", "cli:<user>"
    action: str = Field(max_length=64, index=True)  # concern.created, concern.viewed, alert.acknowledged ...
    entity_type: str = Field(max_length=32)
    entity_id: str = Field(max_length=64, index=True)
    details: dict | None = Field(default=None, sa_column=json_dict_column())
