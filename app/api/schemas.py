"""Representations shared by several resources (a person's card, a team, a touchpoint, a tag).

Resource-specific models live with their resource module; these are the small pieces that
appear inside many of them, declared once so every response spells them the same way.
"""

from __future__ import annotations

from pydantic import BaseModel
from pydantic import ConfigDict

from app.models import Tag
from app.models import Team
from app.models import Touchpoint
from app.models import User


class Out(BaseModel):
    """Base of response models: read from objects, nothing extra."""

    model_config = ConfigDict(from_attributes=True)


class In(BaseModel):
    """Base of request bodies: unknown fields are an error (a typo is not silently dropped)."""

    model_config = ConfigDict(extra="forbid")


class TeamOut(Out):
    id: int
    name: str

    @classmethod
    def of(cls, team: Team) -> TeamOut:
        return cls(id=team.id, name=team.name)


class TouchpointOut(Out):
    id: int
    slug: str
    label: str

    @classmethod
    def of(cls, touchpoint: Touchpoint) -> TouchpointOut:
        return cls(id=touchpoint.id, slug=touchpoint.slug, label=touchpoint.label)


class TagOut(Out):
    id: int
    name: str

    @classmethod
    def of(cls, tag: Tag) -> TagOut:
        return cls(id=tag.id, name=tag.name)


class PersonRef(Out):
    """A person as other resources mention them: public profile fields only (no email)."""

    id: int
    name: str
    team: TeamOut | None

    @classmethod
    def of(cls, user: User) -> PersonRef:
        return cls(id=user.id, name=user.display_name,
                   team=TeamOut.of(user.team) if user.team is not None else None)
