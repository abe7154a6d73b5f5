"""The provider register: organisations, locations, CQC ratings, officers, portfolios."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from .types import json_list_column, utc_column, utcnow


class Organisation(SQLModel, table=True):
    """A registered provider (CQC provider ID): may run many locations."""

    __tablename__ = "organisation"

    provider_id: str = Field(primary_key=True, max_length=32)
    name: str = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class Location(SQLModel, table=True):
    """A CQC-registered location plus what the council holds about its contract."""

    __tablename__ = "location"

    location_id: str = Field(primary_key=True, max_length=32)
    provider_id: str = Field(foreign_key="organisation.provider_id", index=True, max_length=32)
    name: str = Field(index=True)
    also_known_as: list[str] = Field(default_factory=list, sa_column=json_list_column())
    address: str = ""
    postcode: str = Field(default="", index=True, max_length=16)
    town: str = Field(default="", index=True)
    phone: str | None = None
    website: str | None = None
    service_types: list[str] = Field(default_factory=list, sa_column=json_list_column())
    specialisms: list[str] = Field(default_factory=list, sa_column=json_list_column())
    local_authority: str = ""
    region: str = ""
    location_url: str | None = None
    last_checked: date | None = None
    # Council-held facts (portfolio file). A location outside the council's area is
    # kept for linking but not monitored.
    monitored: bool = Field(default=False, index=True)
    beds: int | None = None
    council_funded_residents: int | None = None
    contract_status: str = Field(default="none", max_length=16)  # active | suspended | none
    registered_manager: str | None = Field(default=None, max_length=16)  # in_post | vacant | acting
    manager_changed_on: date | None = None
    financial_risk: str | None = Field(default=None, max_length=16)  # low | medium | high
    last_qa_visit: date | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class CqcRating(SQLModel, table=True):
    """One published rating for one key question; older ones stay as history."""

    __tablename__ = "cqc_rating"
    __table_args__ = (
        sa.UniqueConstraint("location_id", "key_question", "rating", "published_on", name="uq_cqc_rating_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    location_id: str = Field(foreign_key="location.location_id", index=True, max_length=32)
    key_question: str = Field(max_length=16)  # overall | safe | effective | caring | responsive | well-led
    rating: str = Field(max_length=32)  # Outstanding | Good | Requires improvement | Inadequate
    published_on: date | None = None
    current: bool = Field(default=True, index=True)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class Officer(SQLModel, table=True):
    __tablename__ = "officer"

    officer_id: str = Field(primary_key=True, max_length=32)
    name: str
    email: str = ""
    slack_user_id: str | None = Field(default=None, index=True, max_length=32)
    role: str = Field(max_length=32)  # qmo | manager | safeguarding_lead | duty
    manager_id: str | None = Field(default=None, foreign_key="officer.officer_id", max_length=32)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class PortfolioAssignment(SQLModel, table=True):
    """Which officer holds a location; ended rows keep the history of hand-overs."""

    __tablename__ = "portfolio_assignment"

    id: int | None = Field(default=None, primary_key=True)
    location_id: str = Field(foreign_key="location.location_id", index=True, max_length=32)
    officer_id: str = Field(foreign_key="officer.officer_id", index=True, max_length=32)
    assigned_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=utc_column())
