"""Database tables only. This package imports nothing else of the application."""

from sqlmodel import SQLModel

from .alert import Alert, AlertConcern, AlertDelivery
from .audit import AuditEvent
from .concern import CONCERN_STATUSES, Concern, ConcernLocation, ConcernSource, LabelledExample
from .mail import InboundMessage, MailboxState
from .register import CqcRating, Location, Officer, Organisation, PortfolioAssignment
from .risk import RiskAssessment
from .slack import SlackEventSeen
from .types import UTCDateTime, utcnow

metadata = SQLModel.metadata

__all__ = [
    "Alert", "AlertConcern", "AlertDelivery", "AuditEvent", "CONCERN_STATUSES", "Concern",
    "ConcernLocation", "ConcernSource", "CqcRating", "InboundMessage", "LabelledExample",
    "Location", "MailboxState", "Officer", "Organisation", "PortfolioAssignment",
    "RiskAssessment", "SlackEventSeen", "UTCDateTime", "metadata", "utcnow",
]
