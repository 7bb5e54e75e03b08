"""Errors inside API views, answered as RFC 9457 problem details.

`ApiProblem` is what the API's own code raises (a bad cursor, a missing precondition); domain
errors from the services keep their meaning with API statuses: a broken rule is 422 with the
field at fault as a JSON Pointer, a stale version or a refused transition 409. Errors outside
API views (unknown URL, 405, 429) get the same format from app/web/errors.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from flask import Blueprint
from flask import Response
from pydantic import ValidationError as PydanticValidationError

from app.errors import DomainError
from app.errors import ValidationError
from app.web.errors import rollback_request
from app.web.problems import problem


class ApiProblem(Exception):
    """Raised by API code; becomes `problem(status, detail, ...)`."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.errors = errors
        self.headers = headers

    def response(self) -> Response:
        return problem(self.status, self.detail, kind=self.kind, errors=self.errors,
                       headers=self.headers)


def pointer(location: Sequence[str | int]) -> str:
    """A JSON Pointer (RFC 6901) into the request body: ("colleagues", 0) → "#/colleagues/0"."""
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in location]
    return "#/" + "/".join(parts)


def validation_problem(error: PydanticValidationError, *, where: str) -> ApiProblem:
    """A 422 listing every field error: `where` is "body" (pointers) or "query" (parameters)."""
    errors = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        location = [part for part in item["loc"] if part != "__root__"]
        message = item["msg"]
        if where == "body":
            errors.append({"detail": message, "pointer": pointer(location)})
        else:
            errors.append({"detail": message, "parameter": str(location[0]) if location else ""})
    detail = "The request body is not valid." if where == "body" else (
        "A query parameter is not valid.")
    return ApiProblem(422, detail, kind="validation", errors=errors)


def _domain_status(error: DomainError) -> int:
    return 422 if isinstance(error, ValidationError) else error.status_code


def init_problem_handlers(bp: Blueprint) -> None:
    """Errors raised by API views: rolled back, answered as problems (never an HTML page)."""

    @bp.errorhandler(ApiProblem)
    def api_problem(error: ApiProblem):
        rollback_request()
        return error.response()

    @bp.errorhandler(DomainError)
    def domain_error(error: DomainError):
        rollback_request()
        status = _domain_status(error)
        errors = []
        per_field = getattr(error, "errors", None)
        if isinstance(per_field, dict):
            errors = [{"detail": str(message), "pointer": pointer([name])}
                      for name, message in per_field.items()]
        elif getattr(error, "field", None):
            errors = [{"detail": error.message, "pointer": pointer([error.field])}]
        kind = {409: "conflict", 422: "validation", 403: "forbidden", 404: "not-found"}.get(status)
        return problem(status, error.message, kind=kind, errors=errors)
