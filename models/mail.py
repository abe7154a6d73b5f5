"""Mailbox state and what arrived by mail that did not become a concern."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from .types import utc_column, utcnow


class MailboxState(SQLModel, table=True):
    __tablename__ = "mailbox_state"

    mailbox: str = Field(primary_key=True, max_length=255)  # user@host/folder
    uidvalidity: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    last_uid: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, default=0))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class InboundMessage(SQLModel, table=True):
    """Every message taken from the mailbox and what became of it."""

    __tablename__ = "inbound_message"
    __table_args__ = (sa.UniqueConstraint("mailbox", "message_key", name="uq_inbound_message_key"),)

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(max_length=255)
    message_key: str = Field(max_length=512)  # Message-ID, or sha256 of the raw bytes
    # sha256 of the raw message: tells a crash re-run (same bytes, same UID) from a second delivery.
    raw_sha256: str | None = Field(default=None, max_length=64, index=True)
    uid: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    sender: str | None = None
    subject: str | None = None
    outcome: str = Field(max_length=16, index=True)  # stored | duplicate | auto_reply | quarantined
    reason: str | None = None
    concern_id: int | None = Field(default=None, foreign_key="concern.id")
    size: int = 0
    ack_message_id: str | None = Field(default=None, max_length=512)  # our acknowledgement, if sent
    received_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False, index=True))
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column())
