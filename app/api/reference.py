"""/developers/api: the API's reference page, read from the OpenAPI document (app.api.openapi).

Nothing on the page is written per operation: methods, paths, scopes, parameters, bodies,
responses and statuses come from the same document that schemathesis tests, so the page cannot
describe an API the code does not have. This module turns the document's JSON Schema into rows
a person reads (a type in words, the constraints, required or not) and into copy-paste examples.
It is a web page (session, any signed-in person), not part of the token-only API blueprint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from flask import Blueprint
from flask import render_template
from flask import request
from markupsafe import Markup
from markupsafe import escape

from app.api.blueprint import bp as api_bp
from app.api.openapi import document
from app.auth.access import role_required
from app.tokens.scopes import DESCRIPTIONS
from app.web.problems import MEDIA_TYPE as PROBLEM

bp = Blueprint("api_reference", __name__)

METHOD_ORDER = {"get": 0, "post": 1, "put": 2, "patch": 3, "delete": 4}


@dataclass
class FieldRow:
    name: str
    type: str
    required: bool
    description: str
    where: str = ""  # a parameter's place: query, path, header
    ref: str | None = None  # the schema the type names, linked to its table on the page


@dataclass
class StatusRow:
    status: str
    description: str
    problem: bool


@dataclass
class OperationView:
    id: str
    method: str
    path: str
    scope: str | None
    summary: str
    description: str
    parameters: list[FieldRow]
    body: FieldRow | None  # the body's type (its name unused)
    body_fields: list[FieldRow]
    response: FieldRow | None
    response_fields: list[FieldRow]
    statuses: list[StatusRow]
    curl: str
    python: str


@dataclass
class TagView:
    name: str
    anchor: str
    operations: list[OperationView] = field(default_factory=list)


@dataclass
class SchemaView:
    name: str
    anchor: str
    description: str
    fields: list[FieldRow]


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _ref_in(schema: dict[str, Any]) -> str | None:
    """The first schema name a type refers to (itself, an item, an alternative)."""
    name = _ref_name(schema)
    if name:
        return name
    for part in [*schema.get("anyOf", []), schema.get("items")]:
        if isinstance(part, dict) and part and (found := _ref_in(part)):
            return found
    return None


def describe_type(schema: dict[str, Any], components: dict[str, Any] | None = None) -> str:
    """A JSON Schema in words: "integer (1–200)", "list of StoryOut", "string or null"; a
    named enumeration with its values."""
    name = _ref_name(schema)
    if name:
        target = (components or {}).get(name, {})
        if "enum" in target:
            return f"{name}: " + describe_type(target)
        return name
    if "anyOf" in schema:
        return " or ".join(dict.fromkeys(describe_type(part, components)
                                         for part in schema["anyOf"]))
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type", "any")
    if kind == "array":
        text = "list of " + describe_type(schema.get("items", {}), components)
        if "maxItems" in schema:
            text += f" (at most {schema['maxItems']})"
        return text
    if kind == "object" and "additionalProperties" in schema:
        return "object of " + describe_type(schema["additionalProperties"] or {}, components)
    text = str(kind)
    if schema.get("format"):
        text += f" ({schema['format']})"
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None or high is not None:
        text += f" ({'' if low is None else low}–{'' if high is None else high})"
    shortest, longest = schema.get("minLength"), schema.get("maxLength")
    if longest is not None:
        text += f" ({shortest or 0}–{longest} characters)"
    return text


def _fields(schema: dict[str, Any], components: dict[str, Any]) -> list[FieldRow]:
    name = _ref_name(schema)
    if name:
        schema = components.get(name, {})
    required = set(schema.get("required", []))
    return [
        FieldRow(name=prop, type=describe_type(sub, components), required=prop in required,
                 description=sub.get("description", ""), ref=_ref_in(sub))
        for prop, sub in schema.get("properties", {}).items()
    ]


def _example_value(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value for an example request body (required fields only): the field's own
    `examples` (pydantic `Field(examples=[...])`) first."""
    if schema.get("examples"):
        return schema["examples"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    name = _ref_name(schema)
    if name:
        schema = components.get(name, {})
    if "anyOf" in schema:
        options = [part for part in schema["anyOf"] if part.get("type") != "null"]
        return _example_value(options[0], components, depth) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 2:
            return {}
        required = schema.get("required", [])
        return {prop: _example_value(schema["properties"][prop], components, depth + 1)
                for prop in required if prop in schema.get("properties", {})}
    if kind == "array":
        return [_example_value(schema.get("items", {}), components, depth + 1)]
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if schema.get("format") == "date-time":
        return "2026-01-30T09:00:00Z"
    if schema.get("format") == "date":
        return "2026-01-30"
    return "…"


def _examples(method: str, url: str, body: Any, if_match: bool) -> tuple[str, str]:
    lines = [f"curl -X {method.upper()} '{url}' \\", '  -H "Authorization: Bearer $FGF_TOKEN"']
    if if_match:
        lines[-1] += " \\"
        lines.append("""  -H 'If-Match: "<the ETag you read>"'""")
    if body is not None:
        text = json.dumps(body, ensure_ascii=False)
        lines[-1] += " \\"
        lines += ['  -H "Content-Type: application/json" \\', f"  -d '{text}'"]
    curl = "\n".join(lines)
    python = [
        "import os",
        "",
        "import requests",
        "",
        *(["ETAG = '\"...\"'  # the ETag header of the GET you decided on", ""] if if_match
          else []),
        "response = requests.request(",
        f"    {method.upper()!r},",
        f"    {url!r},",
        '    headers={"Authorization": f"Bearer {os.environ[\'FGF_TOKEN\']}"'
        + (', "If-Match": ETAG' if if_match else "") + "},",
    ]
    if body is not None:
        python.append(f"    json={json.dumps(body, ensure_ascii=False)},")
    python += [
        "    timeout=30,",
        ")",
        "if response.status_code >= 400:",
        "    problem = response.json()  # application/problem+json",
        '    raise SystemExit(f"{problem[\'status\']} {problem[\'title\']}: '
        '{problem.get(\'detail\')}")',
        "print(response.json())" if method.lower() != "delete" else "print(response.status_code)",
    ]
    return curl, "\n".join(python)


def _type_row(schema: dict[str, Any] | None, components: dict[str, Any]) -> FieldRow | None:
    if schema is None:
        return None
    return FieldRow(name="", type=describe_type(schema, components), required=True,
                    description="", ref=_ref_in(schema))


def _operation(path: str, method: str, spec: dict[str, Any], base: str,
               components: dict[str, Any]) -> OperationView:
    parameters = [
        FieldRow(name=p["name"], type=describe_type(p.get("schema", {}), components),
                 required=bool(p.get("required")), description=p.get("description", ""),
                 where=p["in"])
        for p in spec.get("parameters", [])
    ]
    body_schema = (spec.get("requestBody", {}).get("content", {})
                   .get("application/json", {}).get("schema"))
    response_schema = None
    statuses = []
    for status, answer in spec.get("responses", {}).items():
        content = answer.get("content", {})
        statuses.append(StatusRow(status=status, description=answer.get("description", ""),
                                  problem=PROBLEM in content))
        if status.startswith("2") and "application/json" in content:
            response_schema = content["application/json"]["schema"]
    example_path = path
    for p in spec.get("parameters", []):
        if p["in"] == "path":
            example_path = example_path.replace("{" + p["name"] + "}", "1")
    example_body = _example_value(body_schema, components) if body_schema else None
    if_match = any(p["name"] == "If-Match" for p in spec.get("parameters", []))
    curl, python = _examples(method, base + example_path, example_body, if_match)
    return OperationView(
        id=spec["operationId"], method=method.upper(), path=path, scope=spec.get("x-scope"),
        summary=spec.get("summary", ""),
        description=spec.get("description", "").split("\n\nScope: ")[0],
        parameters=parameters,
        body=_type_row(body_schema, components),
        body_fields=_fields(body_schema, components) if body_schema else [],
        response=_type_row(response_schema, components),
        response_fields=_fields(response_schema, components) if response_schema else [],
        statuses=statuses, curl=curl, python=python,
    )


def reference(base: str) -> tuple[list[TagView], list[SchemaView], dict[str, Any]]:
    """The document as the page shows it: operations grouped by tag, then the schemas."""
    spec = document(server_url=base)
    components = spec["components"]["schemas"]
    tags = {tag["name"]: TagView(name=tag["name"], anchor="tag-" + _slug(tag["name"]))
            for tag in spec.get("tags", [])}
    for path, item in spec["paths"].items():
        for method in sorted(item, key=lambda m: METHOD_ORDER.get(m, 9)):
            operation = _operation(path, method, item[method], base, components)
            tag = (item[method].get("tags") or ["Other"])[0]
            tags.setdefault(tag, TagView(name=tag, anchor="tag-" + _slug(tag)))
            tags[tag].operations.append(operation)
    schemas = [
        SchemaView(name=name, anchor=anchor(name),
                   description=schema.get("description", ""), fields=_fields(schema, components))
        for name, schema in sorted(components.items())
        if schema.get("properties")
    ]
    return [tag for tag in tags.values() if tag.operations], schemas, spec


def inline_code(text: str) -> Markup:
    """`backticks` in the docstrings become <code>, the rest is escaped."""
    parts = str(text).split("`")
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if i % 2 else escape(part)
        for i, part in enumerate(parts)
    ) if len(parts) % 2 else escape(text)


def anchor(name: str) -> str:
    return "schema-" + _slug(name)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


PROBLEM_EXAMPLE = json.dumps({
    "type": "https://feelgoodfridays.invalid/problems/validation",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "The request body is not valid.",
    "errors": [{"detail": "String should have at most 120 characters", "pointer": "#/title"}],
}, indent=2)


@bp.get("/developers/api")
@role_required()
def api_reference():
    base = request.host_url.rstrip("/") + (api_bp.url_prefix or "")
    tags, schemas, spec = reference(base)
    return render_template(
        "api/reference.html", tags=tags, schemas=schemas, spec=spec, base=base,
        scopes=DESCRIPTIONS, problem_example=PROBLEM_EXAMPLE, anchor=anchor,
        inline_code=inline_code, linked={schema.name for schema in schemas},
        operation_count=sum(len(tag.operations) for tag in tags),
    )
