"""All models, importable from one place (`from app.models import Story`)."""

from app.models.activity import AuditEvent, Reaction, Setting
from app.models.base import Base, utcnow
from app.models.content import (
    Quote,
    QuoteSource,
    Recognition,
    Revision,
    Story,
    SubmissionStatus,
    Tag,
    Touchpoint,
    story_tags,
)
from app.models.editions import Delivery, DeliveryStatus, Edition, EditionItem, EditionStatus
from app.models.outbox import OutboxMessage, OutboxStatus
from app.models.users import Role, Team, User

__all__ = [
    "AuditEvent",
    "Base",
    "Delivery",
    "DeliveryStatus",
    "Edition",
    "EditionItem",
    "EditionStatus",
    "OutboxMessage",
    "OutboxStatus",
    "Quote",
    "QuoteSource",
    "Reaction",
    "Recognition",
    "Revision",
    "Role",
    "Setting",
    "Story",
    "SubmissionStatus",
    "Tag",
    "Team",
    "Touchpoint",
    "User",
    "story_tags",
    "utcnow",
]
