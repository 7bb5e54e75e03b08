"""The signed customer-voice webhook: POST /hooks/voice/<source slug>, a JSON body, and

    X-Voice-Timestamp: <unix seconds>
    X-Voice-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the source's secret>

(several space-separated v1= values are accepted: a sender may sign with more than one secret).

In this order: no signature headers, or a timestamp further than VOICE_WEBHOOK_TOLERANCE_SECONDS
from now either way (a replay) → 401; a body over VOICE_WEBHOOK_MAX_BYTES → 413 (read with that
limit, never more); an unknown, inactive or secretless source, or a signature that does not
match → 401, the same answer as a wrong signature, so a caller cannot tell which sources exist;
then 415 (not JSON), 400 (malformed JSON), 422 (the payload does not make a valid verbatim, each
field named: app/voice/payloads.py). Nothing is stored unless everything passed. A response id
the source already sent answers 200 {"status": "duplicate"} and adds nothing; a new one 201
{"status": "created", "id": ...}, after the commit. Errors are `application/problem+json`.

No cookie authorises these requests, so the blueprint is exempt from CSRF; the view is marked
`_access = "signed-webhook"` for tests/test_routes_access.py, and rate-limited per source.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.exceptions import Unauthorized
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.http import HTTP_STATUS_CODES

from app.errors import DomainError
from app.extensions import csrf
from app.extensions import db
from app.extensions import limiter
from app.models import Origin
from app.models import VoiceSource
from app.voice import services
from app.voice.payloads import MAPPINGS
from app.voice.payloads import read_payload
from app.voice.sources import SIGNATURE_VERSION
from app.voice.sources import SLUG_MAX
from app.voice.sources import signature_matches
from app.web.errors import rollback_request

F = TypeVar("F", bound=Callable)
ACCESS = "signed-webhook"
PROBLEM = "application/problem+json"
TIMESTAMP_HEADER = "X-Voice-Timestamp"
SIGNATURE_HEADER = "X-Voice-Signature"
MAX_SIGNATURES = 5
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(SIGNATURE_VERSION + r"=([0-9a-fA-F]{64})")
# Checked when the source cannot sign, so an unknown source costs the same time as a known one.
_NO_SECRET = secrets.token_urlsafe(32)

MISSING = "Signature missing."
INVALID = "Signature invalid."
EXPIRED = "Signature expired."

hooks_bp = Blueprint("voice_hooks", __name__, url_prefix="/hooks/voice")
csrf.exempt(hooks_bp)


def now() -> int:
    return int(time.time())


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> Response:
    """An RFC 9457 problem document, as small as the refusal allows."""
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    response = Response(json.dumps(body, ensure_ascii=False), status, mimetype=PROBLEM)
    response.headers["Cache-Control"] = "no-store"
    return response


@hooks_bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Response:
    rollback_request()
    status = error.status_code
    return problem(status, HTTP_STATUS_CODES.get(status, "Error"), error.message,
                   errors=getattr(error, "errors", None))


@hooks_bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    rollback_request()
    response = problem(error.code or 500, error.name, error.description)
    if error.response is not None and "Retry-After" in error.response.headers:
        response.headers["Retry-After"] = error.response.headers["Retry-After"]
    return response


def _rate_limit() -> str:
    return str(current_app.config["VOICE_WEBHOOK_RATE_LIMIT"])


def _rate_key() -> str:
    """Per source, so one busy survey does not slow another."""
    slug = str((request.view_args or {}).get("slug", ""))
    return "voice-hook:" + slug[:SLUG_MAX]


def signed_webhook(view: F) -> F:
    """Rate-limited per source and marked for the route-access test; the view checks the
    signature itself, since it needs the body read within its limit first."""
    limited = limiter.limit(_rate_limit, key_func=_rate_key)(view)
    limited._access = ACCESS  # type: ignore[attr-defined]
    return limited  # type: ignore[return-value]


def _refuse(slug: str, detail: str) -> Unauthorized:
    current_app.logger.info("voice webhook %r refused: %s", slug[:SLUG_MAX], detail)
    return Unauthorized(detail, www_authenticate=None)


def _headers(slug: str) -> tuple[str, list[str]]:
    """The timestamp and the signatures sent; 401 when missing, malformed or out of date."""
    timestamp = request.headers.get(TIMESTAMP_HEADER, "").strip()
    header = request.headers.get(SIGNATURE_HEADER, "").strip()
    if not timestamp or not header:
        raise _refuse(slug, MISSING)
    parts = header.split()
    candidates = [m.group(1).lower() for p in parts[:MAX_SIGNATURES]
                  if (m := _SIGNATURE.fullmatch(p))]
    if not _TIMESTAMP.fullmatch(timestamp) or not candidates:
        raise _refuse(slug, INVALID)
    tolerance = int(current_app.config["VOICE_WEBHOOK_TOLERANCE_SECONDS"])
    if abs(now() - int(timestamp)) > tolerance:
        raise _refuse(slug, EXPIRED)
    return timestamp, candidates


def _body() -> bytes:
    """The raw body, read up to VOICE_WEBHOOK_MAX_BYTES and no further (413 beyond)."""
    limit = int(current_app.config["VOICE_WEBHOOK_MAX_BYTES"])
    request.max_content_length = limit
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise RequestEntityTooLarge(f"The body is larger than {limit:,} bytes.") from None


def _signed_source(slug: str, timestamp: str, candidates: list[str], body: bytes) -> VoiceSource:
    source = None
    if len(slug) <= SLUG_MAX:
        source = db.session.scalar(db.select(VoiceSource).where(VoiceSource.slug == slug))
    usable = (
        source is not None and source.is_active and source.origin == Origin.WEBHOOK
        and bool(source.webhook_secret) and source.payload in MAPPINGS
    )
    secret = source.webhook_secret if usable and source is not None else None
    if not signature_matches(secret or _NO_SECRET, timestamp, body, candidates) or not secret:
        raise _refuse(slug, INVALID)
    return source  # type: ignore[return-value]


def _json(body: bytes) -> Any:
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as application/json.")
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON.") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@hooks_bp.route("/<slug>", methods=["POST"])
@signed_webhook
def receive(slug: str):
    timestamp, candidates = _headers(slug)
    body = _body()
    source = _signed_source(slug, timestamp, candidates, body)
    item = read_payload(source.payload, _json(body), services.Lookups())
    verbatim = services.receive(item, services.Intake(source, Origin.WEBHOOK))
    new_id = verbatim.id if verbatim is not None else None
    db.session.commit()
    if new_id is None:
        return jsonify(status="duplicate"), 200
    return jsonify(status="created", id=new_id), 201
