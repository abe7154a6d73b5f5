"""Risk ratings per location, kept as history so trends can be drawn."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from .types import json_dict_column, utc_column, utcnow


class RiskAssessment(SQLModel, table=True):
    """A computed score; a row is written when the score or rating changes."""

    __tablename__ = "risk_assessment"

    id: int | None = Field(default=None, primary_key=True)
    location_id: str = Field(foreign_key="location.location_id", index=True, max_length=32)
    score: float
    rating: str = Field(max_length=8)  # green | amber | red
    previous_rating: str | None = Field(default=None, max_length=8)
    factors: dict = Field(default_factory=dict, sa_column=json_dict_column(nullable=False))
    reason: str = ""
    current: bool = Field(default=True, index=True)
    computed_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False, index=True))
