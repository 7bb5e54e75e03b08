"""GET /me: who the token acts as and what it may do (the first call a script makes)."""

from __future__ import annotations

from datetime import datetime

from app.api.auth import current
from app.api.auth import current_token
from app.api.routing import operation
from app.api.schemas import Out
from app.api.schemas import PersonRef
from app.tokens import scopes
from app.tokens.scopes import READ


class TokenInfo(Out):
    name: str
    kind: str  # "personal" | "service"
    scopes: list[str]
    expires_at: datetime | None


class MeOut(Out):
    person: PersonRef
    role: str
    token: TokenInfo


@operation("GET", "/me", scope=READ, tag="Me", summary="The token's person and scopes",
           response=MeOut, etag=True)
def get_me() -> MeOut:
    """The person the token acts as, their role, and the scopes the token may use now (granted
    and allowed by the person's current role)."""
    token = current_token()
    user = current()
    return MeOut(
        person=PersonRef.of(user),
        role=str(user.role),
        token=TokenInfo(name=token.name, kind=token.purpose,
                        scopes=sorted(scopes.effective(token), key=scopes.SCOPES.index),
                        expires_at=token.expires_at),
    )
