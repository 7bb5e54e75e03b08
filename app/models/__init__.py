"""All models, importable from one place (`from app.models import Story`)."""

from app.models.activity import AuditEvent
from app.models.activity import Reaction
from app.models.activity import Setting
from app.models.base import Base
from app.models.base import utcnow
from app.models.chat import ChatDestination
from app.models.chat import ChatKind
from app.models.chat import ChatPost
from app.models.chat import ChatPostStatus
from app.models.comments import Comment
from app.models.content import Quote
from app.models.content import QuoteSource
from app.models.content import Recognition
from app.models.content import Revision
from app.models.content import Story
from app.models.content import SubmissionStatus
from app.models.content import Tag
from app.models.content import Touchpoint
from app.models.content import story_tags
from app.models.editions import Delivery
from app.models.editions import DeliveryStatus
from app.models.editions import Edition
from app.models.editions import EditionItem
from app.models.editions import EditionStatus
from app.models.engagement import EngagementEvent
from app.models.events import DomainEvent
from app.models.events import EventDelivery
from app.models.events import EventDeliveryStatus
from app.models.notifications import ApplauseNotice
from app.models.notifications import NotificationPreference
from app.models.ops import SchedulerHeartbeat
from app.models.ops import SendPacing
from app.models.outbox import OutboxMessage
from app.models.outbox import OutboxStatus
from app.models.tokens import AccessToken
from app.models.users import Role
from app.models.users import Team
from app.models.users import User
from app.models.voice import Band
from app.models.voice import Origin
from app.models.voice import Scale
from app.models.voice import Verbatim
from app.models.voice import VerbatimStatus
from app.models.voice import VoiceImport
from app.models.voice import VoiceMapping
from app.models.voice import VoiceSource
from app.models.webhooks import WebhookDelivery
from app.models.webhooks import WebhookDeliveryStatus
from app.models.webhooks import WebhookEndpoint

__all__ = [
    "AccessToken",
    "ApplauseNotice",
    "AuditEvent",
    "Band",
    "Base",
    "ChatDestination",
    "ChatKind",
    "ChatPost",
    "ChatPostStatus",
    "Comment",
    "Delivery",
    "DeliveryStatus",
    "DomainEvent",
    "Edition",
    "EditionItem",
    "EditionStatus",
    "EngagementEvent",
    "EventDelivery",
    "EventDeliveryStatus",
    "NotificationPreference",
    "OutboxMessage",
    "Origin",
    "OutboxStatus",
    "Quote",
    "QuoteSource",
    "Reaction",
    "Recognition",
    "Revision",
    "Role",
    "SchedulerHeartbeat",
    "SendPacing",
    "Scale",
    "Setting",
    "Story",
    "SubmissionStatus",
    "Tag",
    "Team",
    "Touchpoint",
    "User",
    "Verbatim",
    "VerbatimStatus",
    "VoiceImport",
    "VoiceMapping",
    "VoiceSource",
    "story_tags",
    "utcnow",
    "WebhookDelivery",
    "WebhookDeliveryStatus",
    "WebhookEndpoint",
]
