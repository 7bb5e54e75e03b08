"""The SCIM resources this service publishes, as scim2-models classes (RFC 7643).

Only what the app can keep is published, so that everything an identity provider writes reads
back the same (a schema that promised `nickName` or `phoneNumbers` would silently drop them):

- User: `userName` is the person's email address (the newsletter's only address), `displayName`
  their name, `active` whether they are deactivated; `emails` is derived from `userName`, so it
  is read-only (values a provider sends there are ignored, RFC 7644 §3.5.1); `externalId` is
  `users.external_id`.
- Group: a team. `displayName` is the team's name, `members` the people whose team it is.
"""

from __future__ import annotations

from typing import Annotated
from typing import Any

from pydantic import Field
from scim2_models import URN
from scim2_models import AuthenticationScheme
from scim2_models import Bulk
from scim2_models import CaseExact
from scim2_models import ChangePassword
from scim2_models import ComplexAttribute
from scim2_models import ETag
from scim2_models import Filter
from scim2_models import Mutability
from scim2_models import Patch
from scim2_models import Reference
from scim2_models import Required
from scim2_models import Resource
from scim2_models import ResourceType
from scim2_models import Schema
from scim2_models import ScimPolicy
from scim2_models import ScimProvider
from scim2_models import ServiceProviderConfig
from scim2_models import Sort
from scim2_models import Uniqueness

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
MAX_RESULTS = 200  # the largest page a list answers (`count` above it is lowered to it)


class Email(ComplexAttribute):
    """The person's address: always the one `userName` holds."""

    value: Annotated[str | None, Mutability.read_only] = None
    type: Annotated[str | None, Mutability.read_only] = None
    primary: Annotated[bool | None, Mutability.read_only] = None


class User(Resource[Any]):
    """A person who reads the newsletter; userName is their email address."""

    __schema__ = URN(USER_SCHEMA)

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    display_name: Annotated[str | None, Required.true] = None
    emails: Annotated[list[Email] | None, Mutability.read_only] = None
    active: Annotated[bool | None, Required.true] = None


class GroupMember(ComplexAttribute):
    """A person in the team (nested groups are not supported: a person has one team)."""

    value: Annotated[str | None, Mutability.immutable, CaseExact.true] = None
    ref: Annotated[Reference[User] | None, Mutability.immutable] = Field(
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    type: Annotated[str | None, Mutability.immutable] = Field(None, examples=["User"])


class Group(Resource[Any]):
    """A team; its members are the people whose team it is."""

    __schema__ = URN(GROUP_SCHEMA)

    display_name: Annotated[str | None, Required.true] = None
    members: list[GroupMember] | None = None


CONFIG = ServiceProviderConfig(
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=False),
    etag=ETag(supported=False),
    authentication_schemes=[
        AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken,
            name="Bearer token",
            description="A token an administrator creates under Admin → Provisioning (SCIM).",
            primary=True,
        )
    ],
)

# What the service tolerates from identity providers: attributes it does not publish (Okta's
# `name`, `locale`...) are ignored rather than refused, and Microsoft Entra's habits (a remove
# that names the member in `value`, a filtered path with no match yet) are understood.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

# /Schemas also describes the discovery resources themselves (RFC 7643 §7 lists them).
PROVIDER = ScimProvider(
    models=[User, Group, ResourceType, ServiceProviderConfig, Schema],
    resource_types=[ResourceType.from_resource(User), ResourceType.from_resource(Group)],
    config=CONFIG,
    policy=POLICY,
)
