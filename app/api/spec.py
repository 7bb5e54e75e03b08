"""The registry of API operations: what `app.api.routing.operation` declared, in order.

One `Operation` per route says everything the OpenAPI document (app.api.openapi) tells about
it; the same object drives the request parsing and the response, so the description cannot
drift from the behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from pydantic import BaseModel


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str  # the Flask rule inside the blueprint, e.g. "/stories/<int:story_id>"
    endpoint: str  # the view's name, also the OpenAPI operationId
    summary: str
    description: str
    tag: str
    scope: str | None  # None: no token needed (the OpenAPI document itself)
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None  # None: 204 No Content
    status: int = 200
    etag: bool = False  # answers with an ETag and honours If-None-Match (304)
    if_match: bool = False  # a change guarded by If-Match or a version in the body
    paginated: bool = False
    errors: tuple[int, ...] = field(default=())  # further statuses the view may answer


OPERATIONS: list[Operation] = []


def register(operation: Operation) -> None:
    OPERATIONS.append(operation)


def statuses(operation: Operation) -> list[int]:
    """Every status the operation can answer, for the OpenAPI document."""
    codes = {operation.status, 429}
    if operation.scope is not None:
        codes |= {401, 403}
    if "<" in operation.rule:
        codes.add(404)
    if operation.query is not None:
        codes.add(422)
    if operation.body is not None:
        codes |= {400, 413, 415, 422}
    if operation.etag:
        codes |= {304, 422}  # 422: an over-long If-None-Match
    if operation.if_match:
        codes |= {409, 412, 422, 428}
    codes |= set(operation.errors)
    return sorted(codes)
