"""Alerts to officers, their deliveries (Slack DM, email) and escalation state."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from .types import json_dict_column, utc_column, utcnow


class Alert(SQLModel, table=True):
    __tablename__ = "alert"

    id: int | None = Field(default=None, primary_key=True)
    # Concerns about one incident/home within the grouping window share one group key and alert.
    group_key: str = Field(index=True, max_length=128)
    recipient_id: str = Field(foreign_key="officer.officer_id", index=True, max_length=32)
    location_id: str | None = Field(default=None, foreign_key="location.location_id", index=True, max_length=32)
    kind: str = Field(default="concern", max_length=24)  # concern | escalation | early_warning | sister_flag
    reason: str = Field(default="portfolio", max_length=32)  # portfolio | duty | safeguarding_lead | manager ...
    urgency: str | None = Field(default=None, max_length=16)
    status: str = Field(default="open", index=True, max_length=16)  # open | acknowledged | cancelled
    escalation_level: int = 0  # 0 officer, 1 manager, 2 duty desk
    escalates_at: datetime | None = Field(default=None, sa_column=utc_column())
    escalated_from_id: int | None = Field(default=None, foreign_key="alert.id")
    acknowledged_at: datetime | None = Field(default=None, sa_column=utc_column())
    acknowledged_by: str | None = Field(default=None, max_length=64)
    details: dict | None = Field(default=None, sa_column=json_dict_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class AlertConcern(SQLModel, table=True):
    __tablename__ = "alert_concern"

    alert_id: int = Field(foreign_key="alert.id", primary_key=True)
    concern_id: int = Field(foreign_key="concern.id", primary_key=True, index=True)


class AlertDelivery(SQLModel, table=True):
    """Outbox: a delivery is written with the alert and sent after commit, retried until sent."""

    __tablename__ = "alert_delivery"
    __table_args__ = (sa.UniqueConstraint("alert_id", "channel", name="uq_alert_delivery_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    channel: str = Field(max_length=16)  # slack | email
    target: str = Field(max_length=256)  # Slack user ID or email address
    status: str = Field(default="pending", index=True, max_length=16)  # pending | sent | failed
    attempts: int = 0
    last_error: str | None = None
    slack_channel: str | None = Field(default=None, max_length=32)
    slack_ts: str | None = Field(default=None, max_length=32)
    needs_update: bool = False  # content changed (storm grouping, acknowledgement) since sent
    # Lease: a sender claims a delivery by moving this forward, so two processes never send it twice;
    # on failure it is the time of the next retry.
    next_attempt_at: datetime | None = Field(default=None, sa_column=utc_column())
    email_message_id: str | None = Field(default=None, max_length=256)  # threads update emails
    sent_at: datetime | None = Field(default=None, sa_column=utc_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
