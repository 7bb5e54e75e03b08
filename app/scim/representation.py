"""People and teams as SCIM resources (app.scim.resources), and the URLs that name them."""

from __future__ import annotations

from scim2_models import Meta

from app.models import Team
from app.models import User as Person
from app.scim.resources import Email
from app.scim.resources import Group
from app.scim.resources import GroupMember
from app.scim.resources import User
from app.web.urls import absolute_url

_ENDPOINTS = {
    "user": ("scim.api.user", "user_id"),
    "group": ("scim.api.group", "group_id"),
    "schema": ("scim.api.schema", "schema_id"),
    "resource_type": ("scim.api.resource_type", "type_id"),
}


def location(kind: str, key: object = None) -> str:
    """The absolute URL of a SCIM resource (BASE_URL, like every other link the app gives)."""
    if kind == "config":
        return absolute_url("scim.api.service_provider_config")
    endpoint, argument = _ENDPOINTS[kind]
    return absolute_url(endpoint, **{argument: str(key)})


def user_resource(person: Person) -> User:
    return User(
        id=str(person.id),
        external_id=person.external_id,
        user_name=person.email,
        display_name=person.display_name,
        emails=[Email(value=person.email, type="work", primary=True)],
        active=person.is_active_user,
        meta=Meta(
            resource_type="User",
            created=person.created_at,
            location=location("user", person.id),
        ),
    )


def group_resource(team: Team, member_ids: list[int] | None) -> Group:
    """`member_ids` None leaves `members` out (the client excluded them)."""
    members = None
    if member_ids:
        members = [
            GroupMember(value=str(i), ref=location("user", i), type="User") for i in member_ids
        ]
    return Group(
        id=str(team.id),
        external_id=team.external_id,
        display_name=team.name,
        members=members,
        meta=Meta(
            resource_type="Group",
            created=team.created_at,
            location=location("group", team.id),
        ),
    )
