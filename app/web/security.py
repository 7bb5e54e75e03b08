"""Security headers on every response and safe redirect targets."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from flask import Response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def init_security(app: Flask) -> None:
    hops = int(app.config.get("PROXY_COUNT") or 0)
    if hops:
        # The proxy's X-Forwarded-For and -Proto, trusted for exactly `hops` proxies: the
        # per-address limits (sign-in) then count each visitor, not the proxy. Not -Host: a
        # proxy that passes a client's X-Forwarded-Host on would let it choose the host the
        # app prints (the proxy sets Host itself).
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    @app.after_request
    def set_security_headers(response: Response) -> Response:
        # A view may set a stricter, purpose-built policy (e.g. the dev outbox's email frame).
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response


def is_safe_redirect(target: str | None) -> bool:
    """Only same-site absolute paths: "/x" yes; "//evil", "https://evil", "\\\\evil", "x" no."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
