"""`operation`: declare an API route once — guard, parsing, response and description.

    @operation("GET", "/stories/<int:story_id>", scope=READ, tag="Stories",
               summary="One published story", response=StoryOut, etag=True)
    def get_story(story_id: int) -> StoryOut: ...

The wrapper authenticates (app.api.auth), validates the query string (`query=` model, passed as
`query`) and the JSON body (`body=` model, passed as `body`) — a 422 problem listing each field
error otherwise — then calls the view and serializes what it returns with the declared response
model: a model instance (status `status`), `Created(model, location)` (201 + Location), None
(204), or a ready Response. The operation is recorded for the OpenAPI document (app.api.spec).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from typing import get_origin
from urllib.parse import urlencode

from flask import Response
from flask import current_app
from flask import request
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from app.api import auth
from app.api import etag as etags
from app.api.blueprint import bp
from app.api.problems import ApiProblem
from app.api.problems import pointer
from app.api.problems import validation_problem
from app.api.spec import Operation
from app.api.spec import register
from app.auth.access import public
from app.extensions import limiter
from app.reading.cache import remember

JSON = "application/json"


@dataclass(frozen=True)
class Created:
    """A 201 answer: the new resource and where it lives."""

    resource: BaseModel
    location: str


def _rate_limit() -> str:
    return str(current_app.config["API_RATE_LIMIT"])


def _rate_key() -> str:
    """Per token (its hash, so one busy integration does not slow another) when the request
    presents a usable one; per address otherwise, so inventing tokens buys no fresh budget.
    One budget across all operations (`shared_limit`, scope "api")."""
    token = auth.presented()
    if token is not None:
        return "api:" + token.token_hash
    return "api-anonymous:" + (request.remote_addr or "")


def _list_fields(model: type[BaseModel]) -> set[str]:
    return {name for name, info in model.model_fields.items()
            if get_origin(info.annotation) in (list, tuple, set)}


def parse_query(model: type[BaseModel]) -> BaseModel:
    lists = _list_fields(model)
    values: dict[str, Any] = {}
    for name, items in request.args.to_dict(flat=False).items():
        values[name] = items if name in lists else items[0]
    try:
        return model.model_validate(values)
    except PydanticValidationError as error:
        raise validation_problem(error, where="query") from None


DEPTH_MAX = 64  # nesting levels a body may have (no operation needs more than three)
DIGITS_MAX = 20  # an integer's digits (every integer field is far smaller: app.numbers)
ERRORS_MAX = 20  # field errors listed in one answer


class _HugeInt:
    """An integer literal too long to be a value of any field: kept as a marker while parsing
    (Python's int-digits limit would make it "not JSON", which it is) and refused with its
    pointer once the body is parsed."""


_HUGE = _HugeInt()


def _parse_int(text: str) -> int | _HugeInt:
    return _HUGE if len(text.lstrip("-")) > DIGITS_MAX else int(text)


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Python's decoder would take them)."""
    raise ValueError(name)


def _too_deep() -> ApiProblem:
    return ApiProblem(422, f"The body is nested too deeply (at most {DEPTH_MAX} levels).",
                      kind="validation",
                      errors=[{"detail": "Nested too deeply.", "pointer": "#/"}])


def _check_shape(data: Any) -> None:
    """Refuse a body nested deeper than DEPTH_MAX or holding a huge integer (422, pointing at
    each such number). Walks iteratively, so a deep body cannot exhaust the stack here."""
    errors: list[dict[str, str]] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict | list) and len(path) >= DEPTH_MAX:
            raise _too_deep()  # the body itself is level 1
        if isinstance(value, dict):
            stack.extend((item, (*path, key)) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        elif value is _HUGE and len(errors) < ERRORS_MAX:
            errors.append({"detail": f"The number is too large (more than {DIGITS_MAX} "
                                     "digits).", "pointer": pointer(path)})
    if errors:
        errors.sort(key=lambda error: error["pointer"])
        raise ApiProblem(422, "The request body is not valid.", kind="validation",
                         errors=errors)


def parse_body(model: type[BaseModel]) -> BaseModel:
    if request.mimetype != JSON:
        raise ApiProblem(415, "Send the body as JSON (Content-Type: application/json).",
                         kind="unsupported-media-type")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw.decode("utf-8"), parse_int=_parse_int,
                          parse_constant=_refuse_constant) if raw else None
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError):
        raise ApiProblem(400, "The body is not valid JSON (UTF-8).", kind="malformed") from None
    _check_shape(data)
    if not isinstance(data, dict):
        raise ApiProblem(422, "The body must be a JSON object.", kind="validation",
                         errors=[{"detail": "Expected an object.", "pointer": "#/"}])
    try:
        return model.model_validate(data)
    except PydanticValidationError as error:
        raise validation_problem(error, where="body") from None


@dataclass(frozen=True)
class Rendered:
    """An answer before its conditional part (If-None-Match): what a cached read keeps."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    etag: str | None = None


def render(result: Any, op: Operation) -> Rendered | Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Rendered(204, b"")
    if isinstance(result, Created):
        body = result.resource.model_dump_json(by_alias=True).encode()
        return Rendered(201, body, (("Location", result.location),))
    body = result.model_dump_json(by_alias=True).encode()
    headers: list[tuple[str, str]] = []
    following = getattr(result, "next_cursor", None) if op.paginated else None
    if following:
        args = request.args.to_dict(flat=False)
        args["cursor"] = [following]
        headers.append(("Link", f'<{request.base_url}?{urlencode(args, doseq=True)}>; rel="next"'))
    tag = None
    if op.etag:
        key = getattr(result, "etag_key", None)
        tag = etags.quote(key()) if callable(key) else etags.of_body(body)
    return Rendered(op.status, body, tuple(headers), tag)


def respond(rendered: Rendered | Response) -> Response:
    if isinstance(rendered, Response):
        return rendered
    if rendered.etag is not None and etags.not_modified(rendered.etag):
        response = Response(status=304)
    elif rendered.status == 204:
        response = Response(status=204)
    else:
        response = Response(rendered.body, status=rendered.status, mimetype=JSON)
    for name, value in rendered.headers:
        response.headers[name] = value
    if rendered.etag is not None:
        response.headers["ETag"] = rendered.etag
    return response


def _cache_key() -> tuple[Any, ...]:
    return ("api", request.host_url, request.path,
            tuple(sorted(request.args.items(multi=True))))


def operation(
    method: str,
    rule: str,
    *,
    scope: str | None,
    summary: str,
    tag: str,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    etag: bool = False,
    if_match: bool = False,
    errors: tuple[int, ...] = (),
    description: str | None = None,
    cached: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`cached=True`: the answer is the same for every token that may call the operation (public
    content), so it is kept in the reading cache (app.reading.cache) until the content changes;
    the token is still checked on every request."""
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        op = Operation(
            method=method, rule=rule, endpoint=view.__name__, summary=summary,
            description=description or (view.__doc__ or "").strip(), tag=tag, scope=scope,
            query=query, body=body, response=response, status=status, etag=etag,
            if_match=if_match,
            paginated=response is not None and "data" in response.model_fields
            and "next_cursor" in response.model_fields,
            errors=errors,
        )

        conditional = (("If-None-Match",) if etag else ()) + (("If-Match",) if if_match else ())

        @wraps(view)
        def wrapped(**path_args: Any) -> Response:
            if scope is not None:
                auth.authenticate(scope)
            kwargs = dict(path_args)
            if conditional:
                etags.check_headers(conditional)
            if query is not None:
                kwargs["query"] = parse_query(query)
            if body is not None:
                kwargs["body"] = parse_body(body)
            if cached:
                return respond(remember(_cache_key(), lambda: render(view(**kwargs), op)))
            return respond(render(view(**kwargs), op))

        if scope is None:
            public(wrapped)
        else:
            wrapped._access = auth.ACCESS  # type: ignore[attr-defined]
        limited = limiter.shared_limit(_rate_limit, scope="api", key_func=_rate_key)(wrapped)
        bp.add_url_rule(rule, view.__name__, limited, methods=[method])
        register(op)
        return limited

    return decorator
