"""The API scopes and the one rule that says what a token may do.

A token may use a scope when it was granted the scope *and* the person it acts as may use it
now: a token made by an editor who later became an employee loses `curate` at once, and a
deactivated person's tokens stop working. Some scopes include others (`curate` includes
`read`, `admin` every scope the person's role allows): IMPLIES, applied by `grants` alone.
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
    CURATE: "Review submissions (approve, request changes, reject) and read the insights; "
            "includes read.",
    ADMIN: "Every other scope its person's role allows (read, submit and curate).",
}
# What a scope brings with it (decided here only, by `grants`): a curator reads the items they
# decide on; an administrator's token does whatever its person may.
IMPLIES: dict[str, frozenset[str]] = {
    CURATE: frozenset({READ}),
    ADMIN: frozenset(SCOPES),
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
    """Whether the token may use `scope` now: its person is active and may use the scope, and
    the token was granted it or a scope implying it (IMPLIES) that the person may still use —
    a demoted administrator's `admin` token implies nothing."""
    user = token.user
    if user is None or not user.is_active:
        return False
    allowed = allowed_for(user)
    if scope not in allowed:
        return False
    usable = parse(token.scopes) & allowed
    return scope in usable or any(scope in IMPLIES.get(held, ()) for held in usable)


def effective(token: AccessToken) -> frozenset[str]:
    """The scopes the token may use now (shown on the token lists and by GET /api/v1/me)."""
    return frozenset(scope for scope in SCOPES if grants(token, scope))
