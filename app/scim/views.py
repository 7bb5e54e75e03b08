"""SCIM 2.0 endpoints (RFC 7644) under /scim/v2: thin views over app.scim.queries (reads) and
app.scim.services (writes), with scim2-models validating what comes in and shaping what goes out.

Each route takes every method and answers the ones it does not support with a SCIM 405 (so a
wrong method is a SCIM error too, not an HTML page). Writes commit once, at the end of the view.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import current_app
from flask import request
from scim2_models import Context
from scim2_models import InvalidFilterException
from scim2_models import InvalidSyntaxException
from scim2_models import InvalidValueException
from scim2_models import ListResponse
from scim2_models import NotFoundException
from scim2_models import PatchOp
from scim2_models import ResourceType
from scim2_models import ResponseParameters
from scim2_models import Schema
from scim2_models import SCIMException
from werkzeug.wrappers import Response

from app.database import reads_only
from app.extensions import csrf
from app.extensions import db
from app.extensions import limiter
from app.numbers import INT_MAX
from app.scim import api
from app.scim import queries
from app.scim import services
from app.scim.auth import current_token
from app.scim.auth import scim_token_required
from app.scim.errors import scim_json
from app.scim.representation import group_resource
from app.scim.representation import location
from app.scim.representation import user_resource
from app.scim.resources import CONFIG
from app.scim.resources import MAX_RESULTS
from app.scim.resources import PROVIDER
from app.scim.resources import Group
from app.scim.resources import User

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
READS = ("GET", "HEAD")  # Flask answers HEAD with the GET view
_INTEGER = re.compile(r"[+-]?\d+")


class MethodNotAllowed(SCIMException):
    status = 405
    _default_detail = "This endpoint does not support this method."


def _rate_limit() -> str:
    return str(current_app.config["SCIM_RATE_LIMIT"])


def _rate_key() -> str:
    """Per token (its hash), so one busy provider does not slow another; per address otherwise."""
    header = request.headers.get("Authorization", "")
    return "scim:" + (services.hash_token(header) if header else (request.remote_addr or ""))


def scim_route(rule: str):
    """A SCIM route: every method, token required, CSRF-exempt (no cookies), rate-limited."""

    def decorator(view):
        guarded = scim_token_required(view)
        limited = limiter.limit(_rate_limit, key_func=_rate_key)(guarded)
        csrf.exempt(limited)
        api.add_url_rule(rule, view.__name__, limited, methods=ALL_METHODS)
        return limited

    return decorator


# Request helpers ---------------------------------------------------------------------------------
def _payload() -> dict[str, Any]:
    try:
        data = json.loads(request.get_data(as_text=True) or "null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidSyntaxException(detail="The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidSyntaxException(detail="The request body must be a JSON object.")
    return data


def _response_parameters() -> ResponseParameters:
    values = {
        key: request.args.get(key)
        for key in ("attributes", "excludedAttributes")
        if request.args.get(key)
    }
    try:
        return ResponseParameters.model_validate(values)
    except ValueError:
        raise InvalidValueException(
            detail="attributes / excludedAttributes are not valid."
        ) from None


def _dump(resource: Any, context: Context, params: ResponseParameters | None = None) -> dict:
    return resource.model_dump(
        scim_ctx=context,
        response_parameters=params or _response_parameters(),
        scim_provider=PROVIDER,
    )


def _wants_members(params: ResponseParameters | None = None) -> bool:
    """Listing a big team's members costs; skip it when the client excluded them."""
    params = params or _response_parameters()
    if params.attributes:
        return any(n.split(".")[0] == "members" for n in _names(params.attributes))
    return "members" not in _names(params.excluded_attributes)


def _names(paths: list | None) -> set[str]:
    return {str(path).lower() for path in paths or []}


def _without_emails(payload: dict[str, Any]) -> dict[str, Any]:
    """`emails` follows `userName` (read-only): values a provider writes there are ignored
    (RFC 7644 §3.5.1), including in PATCH operations, which scim2-models would refuse."""
    operations = payload.get("Operations")
    if isinstance(operations, list):
        kept = []
        for operation in operations:
            if isinstance(operation, dict):
                path = str(operation.get("path") or "").lower()
                if path.startswith("emails"):
                    continue
                value = operation.get("value")
                if not path and isinstance(value, dict):
                    operation = {**operation, "value": {
                        k: v for k, v in value.items() if k.lower() != "emails"}}
            kept.append(operation)
        payload = {**payload, "Operations": kept}
    return {k: v for k, v in payload.items() if k.lower() != "emails"}


def _with_defaults(payload: dict[str, Any], *, active: bool) -> dict[str, Any]:
    """What providers leave out: `active` (a new person is active, a replaced one keeps their
    state) and `displayName` (taken from `name`, else from the address)."""
    if "active" not in payload:
        payload = {**payload, "active": active}
    if payload.get("displayName"):
        return payload
    name = payload.get("name") if isinstance(payload.get("name"), dict) else {}
    parts = [name.get("givenName"), name.get("familyName")]
    derived = name.get("formatted") or " ".join(p for p in parts if isinstance(p, str) and p)
    if not derived and isinstance(payload.get("userName"), str):
        derived = payload["userName"].split("@")[0]
    return {**payload, "displayName": derived} if derived else payload


def _person_data(resource: User) -> services.PersonData:
    return services.PersonData(
        user_name=resource.user_name or "",
        display_name=resource.display_name or "",
        active=True if resource.active is None else bool(resource.active),
        external_id=resource.external_id,
    )


def _member_ids(resource: Group) -> list[int]:
    ids = []
    for member in resource.members or []:
        if member.type not in (None, "User"):
            raise InvalidValueException(detail="Only people can be members (no nested groups).")
        number = queries.row_id(member.value or "")
        if number is None:
            raise InvalidValueException(detail=f"{member.value!r} is not a known User id.")
        ids.append(number)
    return ids


def _team_data(resource: Group, *, members: bool = True) -> services.TeamData:
    return services.TeamData(
        display_name=resource.display_name or "",
        external_id=resource.external_id,
        members=_member_ids(resource) if members else None,
    )


def _user_or_404(user_id: str):
    user = queries.find_user(user_id)
    if user is None:
        raise NotFoundException(detail=f"There is no User {user_id!r}.")
    return user


def _team_or_404(group_id: str):
    team = queries.find_team(group_id)
    if team is None:
        raise NotFoundException(detail=f"There is no Group {group_id!r}.")
    return team


def _not_allowed() -> MethodNotAllowed:
    return MethodNotAllowed(detail=f"{request.method} is not supported here.")


def _list(
    total: int, start: int, resources: list[Any], model: Any,
    params: ResponseParameters | None = None,
) -> Response:
    listed = ListResponse[model](
        total_results=total,
        start_index=start,
        items_per_page=len(resources),
        resources=resources,
    )
    return scim_json(_dump(listed, Context.SEARCH_RESPONSE, params))


def _clamp(name: str, raw: object, default: int, low: int, high: int) -> int:
    """A paging number: below `low` means `low` (RFC 7644 §3.4.2.4), beyond `high` means `high`
    (a 64-bit or longer number included), anything but digits is refused."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidValueException(detail=f"{name} must be a whole number.")
    text = str(raw).strip()
    if not _INTEGER.fullmatch(text):
        raise InvalidValueException(detail=f"{name} must be a whole number.")
    if len(text) > 40:
        return low if text.startswith("-") else high
    return max(low, min(int(text), high))


def _paging(source: dict[str, Any] | None = None) -> tuple[int, int]:
    source = request.args if source is None else source
    start = _clamp("startIndex", source.get("startIndex"), 1, 1, INT_MAX)
    count = _clamp("count", source.get("count"), MAX_RESULTS, 0, MAX_RESULTS)
    return start, count


# Users -------------------------------------------------------------------------------------------
@scim_route("/Users")
def users():
    if request.method in READS:
        return _list_users()
    if request.method == "POST":
        return _create_user()
    raise _not_allowed()


def _list_users() -> Response:
    start, count = _paging()
    page = queries.list_users(request.args.get("filter"), start, count)
    return _list(page.total, start, [user_resource(u) for u in page.rows], User)


def _create_user() -> Response:
    payload = _with_defaults(_without_emails(_payload()), active=True)
    resource = User.model_validate(
        payload, scim_ctx=Context.RESOURCE_CREATION_REQUEST, scim_provider=PROVIDER
    )
    user, _restored = services.create_user(_person_data(resource), token=current_token())
    db.session.commit()
    created = user_resource(user)
    return scim_json(
        _dump(created, Context.RESOURCE_CREATION_RESPONSE), 201,
        Location=location("user", user.id),
    )


@scim_route("/Users/<user_id>")
def user(user_id: str):
    if request.method in READS:
        return scim_json(_dump(user_resource(_user_or_404(user_id)),
                               Context.RESOURCE_QUERY_RESPONSE))
    if request.method == "PUT":
        return _replace_user(user_id)
    if request.method == "PATCH":
        return _patch_user(user_id)
    if request.method == "DELETE":
        return _delete_user(user_id)
    raise _not_allowed()


def _replace_user(user_id: str) -> Response:
    person = _user_or_404(user_id)
    payload = _with_defaults(_without_emails(_payload()), active=person.is_active_user)
    resource = User.model_validate(
        payload, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST, scim_provider=PROVIDER
    )
    resource.replace(user_resource(person))
    services.update_user(person, _person_data(resource), token=current_token())
    db.session.commit()
    return scim_json(_dump(user_resource(person), Context.RESOURCE_REPLACEMENT_RESPONSE))


def _patch_user(user_id: str) -> Response:
    person = _user_or_404(user_id)
    patch = PatchOp[User].model_validate(
        _without_emails(_payload()), scim_ctx=Context.RESOURCE_PATCH_REQUEST,
        scim_provider=PROVIDER,
    )
    resource = user_resource(person)
    patch.patch(resource, scim_policy=PROVIDER.policy)
    services.update_user(person, _person_data(resource), token=current_token())
    db.session.commit()
    return scim_json(_dump(user_resource(person), Context.RESOURCE_PATCH_RESPONSE))


def _delete_user(user_id: str) -> Response:
    person = _user_or_404(user_id)
    services.delete_user(person, token=current_token())
    db.session.commit()
    return Response(status=204)


# Groups ------------------------------------------------------------------------------------------
@scim_route("/Groups")
def groups():
    if request.method in READS:
        return _list_groups()
    if request.method == "POST":
        return _create_group()
    raise _not_allowed()


def _list_groups() -> Response:
    start, count = _paging()
    page = queries.list_teams(request.args.get("filter"), start, count)
    return _list(page.total, start, _groups(page.rows, _wants_members()), Group)


def _groups(teams: list, with_members: bool) -> list[Group]:
    members = queries.members_by_team([t.id for t in teams]) if with_members else {}
    return [group_resource(t, members.get(t.id)) for t in teams]


def _create_group() -> Response:
    resource = Group.model_validate(
        _payload(), scim_ctx=Context.RESOURCE_CREATION_REQUEST, scim_provider=PROVIDER
    )
    data = _team_data(resource, members=resource.members is not None)
    team, _restored = services.create_team(data, token=current_token())
    db.session.commit()
    return scim_json(
        _dump(group_resource(team, _member_list(team)), Context.RESOURCE_CREATION_RESPONSE),
        201, Location=location("group", team.id),
    )


def _member_list(team) -> list[int] | None:
    return [u.id for u in queries.team_members(team)] if _wants_members() else None


@scim_route("/Groups/<group_id>")
def group(group_id: str):
    if request.method in READS:
        team = _team_or_404(group_id)
        return scim_json(_dump(group_resource(team, _member_list(team)),
                               Context.RESOURCE_QUERY_RESPONSE))
    if request.method == "PUT":
        return _replace_group(group_id)
    if request.method == "PATCH":
        return _patch_group(group_id)
    if request.method == "DELETE":
        return _delete_group(group_id)
    raise _not_allowed()


def _replace_group(group_id: str) -> Response:
    team = _team_or_404(group_id)
    resource = Group.model_validate(
        _payload(), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST, scim_provider=PROVIDER
    )
    current = group_resource(team, [u.id for u in queries.team_members(team)])
    resource.replace(current)
    services.update_team(team, _team_data(resource), token=current_token())
    db.session.commit()
    return scim_json(_dump(group_resource(team, _member_list(team)),
                           Context.RESOURCE_REPLACEMENT_RESPONSE))


def _patch_group(group_id: str) -> Response:
    team = _team_or_404(group_id)
    patch = PatchOp[Group].model_validate(
        _payload(), scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_provider=PROVIDER
    )
    resource = group_resource(team, [u.id for u in queries.team_members(team)])
    patch.patch(resource, scim_policy=PROVIDER.policy)
    services.update_team(team, _team_data(resource), token=current_token())
    db.session.commit()
    return scim_json(_dump(group_resource(team, _member_list(team)),
                           Context.RESOURCE_PATCH_RESPONSE))


def _delete_group(group_id: str) -> Response:
    team = _team_or_404(group_id)
    services.delete_team(team, token=current_token())
    db.session.commit()
    return Response(status=204)


# Searching with POST (RFC 7644 §3.4.3) ------------------------------------------------------------
def _search_request() -> tuple[str | None, int, int, ResponseParameters]:
    body = _payload()
    text = body.get("filter")
    if text is not None and not isinstance(text, str):
        raise InvalidValueException(detail="filter must be a string.")
    values = {k: body[k] for k in ("attributes", "excludedAttributes") if body.get(k)}
    try:
        params = ResponseParameters.model_validate(values)
    except ValueError:
        raise InvalidValueException(
            detail="attributes / excludedAttributes are not valid."
        ) from None
    start, count = _paging(body)
    return text, start, count, params


@scim_route("/Users/.search")
@reads_only
def search_users():
    if request.method != "POST":
        raise _not_allowed()
    text, start, count, params = _search_request()
    page = queries.list_users(text, start, count)
    return _list(page.total, start, [user_resource(u) for u in page.rows], User, params)


@scim_route("/Groups/.search")
@reads_only
def search_groups():
    if request.method != "POST":
        raise _not_allowed()
    text, start, count, params = _search_request()
    page = queries.list_teams(text, start, count)
    return _list(page.total, start, _groups(page.rows, _wants_members(params)), Group, params)


@scim_route("/.search")
@reads_only
def search():
    """Users, then groups. A filter naming an attribute only one of them has matches none of
    the other (RFC 7644 §3.4.2.1); a filter neither understands is refused."""
    if request.method != "POST":
        raise _not_allowed()
    text, start, count, params = _search_request()
    refusals = []
    found: list[Any] = []
    users_total = groups_total = 0
    try:
        users = queries.list_users(text, start, count)  # its total and, if any, its page
        users_total = users.total
        found += [user_resource(u) for u in users.rows]
    except InvalidFilterException as refusal:
        refusals.append(refusal)
    remaining = count - len(found)
    try:
        groups = queries.list_teams(text, max(1, start - users_total), max(remaining, 0))
        groups_total = groups.total
        found += _groups(groups.rows, _wants_members(params))
    except InvalidFilterException as refusal:
        refusals.append(refusal)
    if len(refusals) == 2:
        raise refusals[0]
    return _list(users_total + groups_total, start, found, User | Group, params)


# Discovery (RFC 7644 §4) -------------------------------------------------------------------------
def _get_only() -> None:
    if request.method not in READS:
        raise _not_allowed()


@scim_route("/ServiceProviderConfig")
def service_provider_config():
    _get_only()
    config = CONFIG.model_copy(update={"meta": None})
    payload = config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    payload["meta"] = {"resourceType": "ServiceProviderConfig",
                       "location": location("config")}
    return scim_json(payload)


def _schema_payload(schema: Schema) -> dict[str, Any]:
    payload = schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    payload["meta"] = {"resourceType": "Schema", "location": location("schema", schema.id)}
    return payload


def _resource_type_payload(resource_type: ResourceType) -> dict[str, Any]:
    payload = resource_type.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    payload["meta"] = {"resourceType": "ResourceType",
                       "location": location("resource_type", resource_type.id)}
    return payload


def _listing(items: list[dict[str, Any]]) -> Response:
    return scim_json({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": len(items),
        "startIndex": 1,
        "itemsPerPage": len(items),
        "Resources": items,
    })


@scim_route("/Schemas")
def schemas():
    _get_only()
    return _listing([_schema_payload(s) for s in PROVIDER.schemas])


@scim_route("/Schemas/<path:schema_id>")
def schema(schema_id: str):
    _get_only()
    for item in PROVIDER.schemas:
        if str(item.id).lower() == schema_id.lower():
            return scim_json(_schema_payload(item))
    raise NotFoundException(detail=f"There is no schema {schema_id!r}.")


@scim_route("/ResourceTypes")
def resource_types():
    _get_only()
    return _listing([_resource_type_payload(r) for r in PROVIDER.resource_types])


@scim_route("/ResourceTypes/<path:type_id>")
def resource_type(type_id: str):
    _get_only()
    for item in PROVIDER.resource_types:
        if str(item.id).lower() == type_id.lower():
            return scim_json(_resource_type_payload(item))
    raise NotFoundException(detail=f"There is no resource type {type_id!r}.")


@scim_route("/<path:unknown>")
def not_found(unknown: str):
    raise NotFoundException(detail=f"/{unknown} is not a SCIM endpoint.")
