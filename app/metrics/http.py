"""Request metrics: a count by endpoint, method and status, and a latency histogram by endpoint.

The label is the Flask endpoint name ("main.home"), never the path, so a crawler's random URLs
add one series ("none": no route matched), not thousands. The clock starts in the first
before-request hook (inserted ahead of the others, so a rate-limit or CSRF refusal is timed too)
and stops in an after-request hook, which Flask also runs for error responses.
"""

from __future__ import annotations

import logging
import time

from flask import Flask
from flask import Response
from flask import request

from app.metrics import instruments as m

log = logging.getLogger(__name__)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "none"  # 404s, and 405s before a route is chosen


_STARTED = "fgf.metrics.started"  # in the WSGI environ: per request, whatever clears `g`


def start_clock() -> None:
    request.environ[_STARTED] = time.perf_counter()


def count_request(response: Response) -> Response:
    try:
        rule = request.url_rule
        endpoint = rule.endpoint if rule is not None else UNMATCHED
        method = request.method if request.method in METHODS else "other"
        m.HTTP_REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        started = request.environ.pop(_STARTED, None)
        if started is not None:
            m.HTTP_DURATION.labels(endpoint).observe(time.perf_counter() - started)
    except Exception:  # pragma: no cover - counting never turns an answer into a 500
        log.exception("metrics: the request was not counted")
    return response


def init_request_metrics(app: Flask) -> None:
    app.before_request_funcs.setdefault(None, []).insert(0, start_clock)
    app.after_request(count_request)
