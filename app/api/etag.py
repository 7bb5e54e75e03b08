"""Entity tags: conditional reads (If-None-Match → 304) and guarded changes (If-Match).

A resource's ETag is a hash of its JSON body unless its model says otherwise (`etag_key`):
a submission's is its version, so the ETag a curator read is exactly the optimistic lock the
review services check (a stale one is 412 before anything changes).
"""

from __future__ import annotations

import hashlib

from flask import request

from app.api.problems import ApiProblem

HEADER_MAX = 1000  # If-None-Match / If-Match: a few dozen tags at most, never a megabyte



def quote(value: str) -> str:
    return f'"{value}"'


def of_body(body: bytes) -> str:
    return quote(hashlib.sha256(body).hexdigest()[:32])


def check_headers(names: tuple[str, ...]) -> None:
    """The conditional headers are within HEADER_MAX (as the document says), else 422."""
    errors = [{"detail": f"Use at most {HEADER_MAX} characters.", "parameter": name}
              for name in names if len(request.headers.get(name, "")) > HEADER_MAX]
    if errors:
        raise ApiProblem(422, "A header is too long.", kind="validation", errors=errors)


def _tags(header: str) -> list[str]:
    return [part.strip().removeprefix("W/") for part in header.split(",") if part.strip()]


def not_modified(etag: str) -> bool:
    """If-None-Match names this ETag (weak comparison, RFC 9110 §13.1.2) or is "*"."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = _tags(header)
    return "*" in tags or etag.removeprefix("W/") in tags


def require_match(current_etag: str, current_version: int, body_version: int | None) -> int:
    """The version a guarded change may apply to: If-Match must name the current ETag (strong
    comparison; else 412), or the body carries `version` (a stale one is the service's 409);
    with neither, 428 (a change must say what it saw)."""
    header = request.headers.get("If-Match")
    if header:
        tags = [part.strip() for part in header.split(",") if part.strip()]
        if "*" not in tags and current_etag not in tags:
            raise ApiProblem(
                412, "The item changed since you read it (If-Match does not match its ETag). "
                "Read it again and decide.", kind="precondition-failed")
        return current_version if body_version is None else body_version
    if body_version is None:
        raise ApiProblem(
            428, "Say which version you saw: send If-Match with the ETag you read, or "
            "\"version\" in the body.", kind="precondition-required")
    return body_version
