"""The API scopes and the one rule that says what a token may do.

A token may use a scope when it was granted the scope *and* the person it acts as may use it
now: a token made by an editor who later became an employee loses `curate` at once, and a
deactivated person's tokens stop working.
"""

from __future__ import annotations

from app.models import AccessToken
from app.models import Role
from app.models import User

READ = "read"
SUBMIT = "submit"
CURATE = "curate"
ADMIN = "admin"
SCOPES: tuple[str, ...] = (READ, SUBMIT, CURATE, ADMIN)
DESCRIPTIONS = {
    READ: "Read published stories, quotes, editions, people, teams and search.",
    SUBMIT: "Submit stories and quotes as the token's person.",
    CURATE: "Review submissions (approve, request changes, reject) and read the insights.",
    ADMIN: "Everything an administrator may do through the API.",
}
_BY_ROLE: dict[Role, frozenset[str]] = {
    Role.EMPLOYEE: frozenset({READ, SUBMIT}),
    Role.EDITOR: frozenset({READ, SUBMIT, CURATE}),
    Role.ADMIN: frozenset(SCOPES),
}
PERSONAL = "personal"  # a person's own token, for their scripts
SERVICE = "service"  # an admin's token for an integration, acting as a person they chose
API_PURPOSES = (PERSONAL, SERVICE)


def parse(value: str) -> frozenset[str]:
    """The scopes stored on a token ("read submit"); unknown words are ignored."""
    return frozenset(word for word in value.split() if word in SCOPES)


def dump(scopes: set[str] | frozenset[str]) -> str:
    """Stored in SCOPES order, so the same set is always the same text."""
    return " ".join(scope for scope in SCOPES if scope in scopes)


def allowed_for(user: User) -> frozenset[str]:
    """The scopes a person's role allows (what a personal token may be granted)."""
    return _BY_ROLE.get(user.role, frozenset())


def grants(token: AccessToken, scope: str) -> bool:
    """Whether the token may use `scope` now (granted, and allowed to its active person)."""
    user = token.user
    return (
        user is not None
        and user.is_active
        and scope in parse(token.scopes)
        and scope in allowed_for(user)
    )


def effective(token: AccessToken) -> frozenset[str]:
    """The scopes the token may use now (shown on the token lists and by GET /api/v1/me)."""
    return frozenset(scope for scope in SCOPES if grants(token, scope))
