"""The OpenAPI 3.1 document, built from the registered operations and their pydantic models.

Nothing here is written by hand per endpoint: paths, parameters, bodies, responses and the
component schemas come from `app.api.spec.OPERATIONS`; pydantic's JSON Schema (draft 2020-12)
is what OpenAPI 3.1 uses, so the schemas go in as they are.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.api.etag import HEADER_MAX
from app.api.spec import OPERATIONS
from app.api.spec import Operation
from app.api.spec import statuses
from app.numbers import INT_MAX
from app.tokens.scopes import DESCRIPTIONS
from app.web.problems import MEDIA_TYPE as PROBLEM

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
DESCRIPTIONS_BY_STATUS = {
    200: "OK", 201: "Created", 204: "No content", 304: "Not modified (If-None-Match matched)",
    400: "The body is not valid JSON", 401: "No valid token",
    403: "The token lacks the scope, or its person may not do this",
    404: "No such resource (or not visible to this token)",
    409: "Conflict: the item changed (stale version) or is in a state that forbids this",
    412: "If-Match does not match the current ETag", 413: "The body is too large",
    415: "The body is not JSON", 422: "A parameter or field is not valid",
    428: "A change must send If-Match or a version", 429: "Too many requests for this token",
}


class Problem(BaseModel):
    """RFC 9457 problem details; `errors` lists field errors (a JSON Pointer into the body, or
    a query parameter)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, str]] | None = None


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    parameters = []
    for converter, name in _PARAM.findall(rule):
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 0, "maximum": INT_MAX} if converter == "int"
            else {"type": "string", "minLength": 1, "maxLength": 100})
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _PARAM.sub(lambda m: "{" + m.group(2) + "}", rule), parameters


def _query_parameters(model: type[BaseModel], defs: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF, mode="validation")
    defs.update(schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    parameters = []
    for name, field_schema in schema.get("properties", {}).items():
        parameter: dict[str, Any] = {
            "name": name, "in": "query", "required": name in required,
            "schema": {k: v for k, v in field_schema.items() if k not in ("description",)},
        }
        if field_schema.get("description"):
            parameter["description"] = field_schema["description"]
        if field_schema.get("type") == "array" or "array" in str(field_schema.get("anyOf", "")):
            parameter["style"] = "form"
            parameter["explode"] = True
        parameters.append(parameter)
    return parameters


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS_BY_STATUS.get(status, "A problem"),
        "content": {PROBLEM: {"schema": {"$ref": REF.format(model="Problem")}}},
    }
    if status == 429:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return response


def _operation(op: Operation, refs: dict[Any, Any], defs: dict[str, Any]) -> dict[str, Any]:
    _, path_parameters = _path(op.rule)
    parameters = list(path_parameters)
    if op.query is not None:
        parameters += _query_parameters(op.query, defs)
    if op.etag:
        parameters.append({"name": "If-None-Match", "in": "header", "required": False,
                           "schema": {"type": "string", "maxLength": HEADER_MAX}})
    if op.if_match:
        parameters.append({"name": "If-Match", "in": "header", "required": False,
                           "schema": {"type": "string", "maxLength": HEADER_MAX},
                           "description": "The ETag you read; or send `version` in the body."})
    responses: dict[str, Any] = {}
    for status in statuses(op):
        if status == op.status and op.response is not None:
            content = {"application/json": {"schema": refs[(op.response, "serialization")]}}
            ok: dict[str, Any] = {"description": DESCRIPTIONS_BY_STATUS.get(status, "OK"),
                                  "content": content}
            headers = {}
            if op.etag:
                headers["ETag"] = {"schema": {"type": "string"}}
            if status == 201:
                headers["Location"] = {"schema": {"type": "string"}}
            if op.paginated:
                headers["Link"] = {"schema": {"type": "string"},
                                   "description": 'The next page: <url>; rel="next"'}
            if headers:
                ok["headers"] = headers
            responses[str(status)] = ok
        elif status in (204, 304):
            responses[str(status)] = {"description": DESCRIPTIONS_BY_STATUS[status]}
        else:
            responses[str(status)] = _problem_response(status)
    document: dict[str, Any] = {
        "operationId": op.endpoint,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    }
    if op.description:
        document["description"] = op.description
    if parameters:
        document["parameters"] = parameters
    if op.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    if op.scope is None:
        document["security"] = []
    else:
        document["security"] = [{"bearer": []}]
        document["x-scope"] = op.scope
        document["description"] = (document.get("description", "") +
                                   f"\n\nScope: `{op.scope}`.").strip()
    return document


def document(server_url: str = "/api/v1") -> dict[str, Any]:
    models: list[tuple[type[BaseModel], str]] = [(Problem, "serialization")]
    for op in OPERATIONS:
        if op.response is not None:
            models.append((op.response, "serialization"))
        if op.body is not None:
            models.append((op.body, "validation"))
    unique = list(dict.fromkeys(models))
    refs, top = models_json_schema(unique, ref_template=REF)  # type: ignore[arg-type]
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        path, _ = _path(op.rule)
        paths.setdefault(path, {})[op.method.lower()] = _operation(op, refs, defs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Feel Good Fridays API",
            "version": "1",
            "description": (
                "Stories, quotes and editions of Feel Good Fridays, for intranets, chat bots, "
                "data warehouses and support tools. Authenticate with a personal or service "
                "token: `Authorization: Bearer <token>`. Lists are keyset pages (`limit`, "
                "`cursor`); errors are RFC 9457 problem details."),
        },
        "servers": [{"url": server_url}],
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in OPERATIONS)],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A personal or service token. Scopes: " + "; ".join(
                    f"`{name}`: {text}" for name, text in DESCRIPTIONS.items()),
            }},
        },
    }
