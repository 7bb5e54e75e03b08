"""SCIM error responses (RFC 7644 §3.12): every refusal under /scim/v2 is a SCIM Error in JSON
with its status, `scimType` where the RFC defines one, and a `detail` a person can act on.

Like the app's one error handler (app/web/errors.py) these roll the request's writes back; the
views never do.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint
from flask import Response
from pydantic import ValidationError as PydanticValidationError
from scim2_models import Context
from scim2_models import Error
from scim2_models import SCIMException
from werkzeug.exceptions import HTTPException

from app.errors import Conflict
from app.errors import DomainError
from app.web.errors import rollback_request

MEDIA_TYPE = "application/scim+json"


def scim_json(payload: dict[str, Any], status: int = 200, **headers: str) -> Response:
    response = Response(json.dumps(payload, ensure_ascii=False), status, mimetype=MEDIA_TYPE)
    response.headers.update(headers)
    return response


def error_response(status: int, detail: str, scim_type: str | None = None) -> Response:
    error = Error(status=status, scim_type=scim_type, detail=detail)
    headers = {"WWW-Authenticate": 'Bearer realm="SCIM"'} if status == 401 else {}
    return scim_json(error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), status, **headers)


def init_errors(api: Blueprint) -> None:
    @api.errorhandler(SCIMException)
    def scim_exception(error: SCIMException):
        rollback_request()
        return error_response(error.status, error.detail, error.scim_type or None)

    @api.errorhandler(PydanticValidationError)
    def invalid_payload(error: PydanticValidationError):
        rollback_request()
        first = Error.from_validation_errors(error)[0]
        return error_response(first.status or 400, first.detail or "Invalid payload.",
                              first.scim_type or "invalidValue")

    @api.errorhandler(DomainError)
    def domain_error(error: DomainError):
        rollback_request()
        scim_type = "invalidValue" if error.status_code == 400 else None
        if isinstance(error, Conflict):
            scim_type = None
        return error_response(error.status_code, error.message, scim_type)

    @api.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        rollback_request()
        status = error.code or 500
        response = error_response(status, error.description or error.name)
        if error.response is not None and "Retry-After" in error.response.headers:
            response.headers["Retry-After"] = error.response.headers["Retry-After"]
        return response
