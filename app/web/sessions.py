"""A session for requests that must never use the cookie (the API, /metrics scrapes)."""

from __future__ import annotations

from flask.globals import request_ctx
from flask.sessions import SecureCookieSession


class NoSession(SecureCookieSession):
    """Empty whatever cookie came, never saved, never marked accessed: no `Vary: Cookie`, no
    Set-Cookie, and a signed-in browser's cookie is neither read nor touched (flask-login's
    after-request hook still looks at "the session")."""

    @property
    def accessed(self) -> bool:  # type: ignore[override]
        return False

    @accessed.setter
    def accessed(self, value: bool) -> None:
        pass

    @property
    def modified(self) -> bool:  # type: ignore[override]
        return False

    @modified.setter
    def modified(self, value: bool) -> None:
        pass


def drop_session() -> None:
    """Give the current request the empty session (before anything reads the real one)."""
    request_ctx._session = NoSession()  # type: ignore[assignment]
