"""Who may read /metrics: an address in METRICS_ALLOW, or a bearer token equal to METRICS_TOKEN.

No session and no user: Prometheus scrapes with neither. The address is the TCP peer's
(REMOTE_ADDR). Behind a reverse proxy every request comes from the proxy's address, so the
allow-list would let the whole internet in through it: a request that carries a proxy's
forwarding header (Forwarded, X-Forwarded-For) is judged by its token alone. Operators behind a
proxy set METRICS_TOKEN (and may block /metrics at the proxy). Refusals are 403 with a short
plain-text reason: the endpoint's existence is no secret (it is in the docs), and a scrape
misconfiguration is easier to see than with a 404.

`@metrics_access` marks the view for tests/test_routes_access.py (`_access = "metrics"`).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from functools import lru_cache
from functools import wraps
from typing import TypeVar

from flask import Response
from flask import current_app
from flask import request

from app.web.sessions import drop_session

F = TypeVar("F", bound=Callable)
ACCESS = "metrics"
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def parse_allow(value: str) -> tuple[Network, ...]:
    """METRICS_ALLOW ("127.0.0.1/32, ::1/128, 10.0.0.0/8"; a bare address is a /32 or /128).
    A malformed entry raises ValueError naming it: a typo must not silently open or close."""
    networks = []
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"METRICS_ALLOW: {part!r} is not an address or a CIDR") from None
    return tuple(networks)


def address_allowed(remote_addr: str | None, allow: str) -> bool:
    if not remote_addr:
        return False
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
    return any(address in network for network in parse_allow(allow))


def token_matches(header: str | None, token: str | None) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time; no token configured: no."""
    if not token or not header:
        return False
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def refusal() -> str | None:
    """Why this request may not read the metrics, or None when it may. A request that presents
    a token is judged by it alone (a wrong token is refused even from an allowed address, so a
    misconfigured scraper notices); one without a token, by its address."""
    config = current_app.config
    header = request.headers.get("Authorization")
    if header:
        if token_matches(header, config.get("METRICS_TOKEN")):
            return None
        return "metrics: the bearer token is not the configured METRICS_TOKEN"
    if any(name in request.headers for name in PROXY_HEADERS):
        return "metrics: a request through a proxy needs the METRICS_TOKEN bearer token"
    if address_allowed(request.remote_addr, config.get("METRICS_ALLOW") or ""):
        return None
    return "metrics: this address is not in METRICS_ALLOW and no bearer token was given"


def metrics_access(view: F) -> F:
    @wraps(view)
    def wrapped(*args, **kwargs):
        drop_session()
        reason = refusal()
        if reason is not None:
            return Response(reason + "\n", status=403, mimetype="text/plain",
                            headers={"Cache-Control": "no-store"})
        return view(*args, **kwargs)

    wrapped._access = ACCESS  # type: ignore[attr-defined]
    return wrapped  # type: ignore[return-value]
