"""Concerns: one per distinct piece of intelligence, however many times it arrived."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from .types import json_dict_column, json_list_column, utc_column, utcnow

CONCERN_STATUSES = ("open", "acknowledged", "closed", "withdrawn", "not_concern")


class Concern(SQLModel, table=True):
    __tablename__ = "concern"

    id: int | None = Field(default=None, primary_key=True)
    reference: str | None = Field(default=None, unique=True, max_length=32)
    source: str = Field(max_length=16, index=True)  # email | slack | manual | import
    # Key of the first arrival (Message-ID, Slack channel:ts...); every arrival is in concern_source.
    external_id: str = Field(max_length=512)
    content_hash: str = Field(index=True, max_length=64)
    received_at: datetime = Field(sa_column=utc_column(nullable=False, index=True))
    sender: str | None = None
    subject: str | None = None
    channel: str | None = None
    # For forwarded mail: who wrote it first, when and under what subject.
    original_sender: str | None = None
    original_sent_at: str | None = None
    original_subject: str | None = None
    raw_text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    clean_text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    attachments: list[dict] = Field(default_factory=list, sa_column=json_list_column())
    # Classifier output, with confidence and evidence; the columns below are the labels in force
    # (the prediction, or an officer's correction).
    classification: dict | None = Field(default=None, sa_column=json_dict_column())
    model_version: str | None = Field(default=None, max_length=64)
    urgency: str | None = Field(default=None, index=True, max_length=16)
    domains: list[str] = Field(default_factory=list, sa_column=json_list_column())
    topics: list[str] = Field(default_factory=list, sa_column=json_list_column())
    safeguarding: list[str] = Field(default_factory=list, sa_column=json_list_column())
    labels_source: str = Field(default="model", max_length=16)  # model | officer
    corrected_by: str | None = Field(default=None, max_length=64)
    corrected_at: datetime | None = Field(default=None, sa_column=utc_column())
    status: str = Field(default="open", index=True, max_length=16)
    parent_id: int | None = Field(default=None, foreign_key="concern.id")  # Slack thread replies
    slack_channel: str | None = Field(default=None, max_length=32)
    slack_ts: str | None = Field(default=None, max_length=32)
    slack_reply_ts: str | None = Field(default=None, max_length=32)  # the bot's triage reply
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class ConcernSource(SQLModel, table=True):
    """Each arrival of a concern: the same report forwarded twice links here, not to a new concern."""

    __tablename__ = "concern_source"
    __table_args__ = (sa.UniqueConstraint("source", "external_id", name="uq_concern_source_key"),)

    id: int | None = Field(default=None, primary_key=True)
    concern_id: int = Field(foreign_key="concern.id", index=True)
    source: str = Field(max_length=16)
    external_id: str = Field(max_length=512)
    sender: str | None = None
    received_at: datetime = Field(sa_column=utc_column(nullable=False))
    relation: str = Field(default="original", max_length=16)  # original | duplicate | thread_reply


class ConcernLocation(SQLModel, table=True):
    __tablename__ = "concern_location"

    concern_id: int = Field(foreign_key="concern.id", primary_key=True)
    location_id: str = Field(foreign_key="location.location_id", primary_key=True, max_length=32, index=True)
    confidence: float = 1.0


class LabelledExample(SQLModel, table=True):
    """An officer's correction, kept as training data for the next retrain."""

    __tablename__ = "labelled_example"

    id: int | None = Field(default=None, primary_key=True)
    concern_id: int | None = Field(default=None, foreign_key="concern.id", index=True)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    subject: str | None = None
    source: str = Field(default="email", max_length=16)
    labels: dict = Field(sa_column=json_dict_column(nullable=False))
    labelled_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
