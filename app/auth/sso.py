"""Single sign-on: who an OpenID Connect identity is in this app, and who may sign in with it.

The protocol (state, PKCE, nonce, the ID token's signature, issuer, audience and expiry) is
Authlib's job in `app.auth.oidc_client`; this module starts from the verified claims and holds
the rules, as plain functions raising domain errors:

- an identity is matched by (issuer, subject) first: the link survives an email change;
- otherwise by email, only when the provider says the address is verified, and the existing
  account is linked (never duplicated); a first sign-in creates the account ("just in time");
- only emails in OIDC_ALLOWED_DOMAINS sign in, and deactivated people never do;
- the team comes from OIDC_TEAM_CLAIM (created when missing), and membership of one of
  OIDC_EDITOR_GROUPS (in the OIDC_GROUPS_CLAIM claim) makes an employee an editor. Groups only
  grant: an admin's choices in the app are never undone by a sign-in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import audit
from app.auth import services as auth
from app.auth.sso_settings import SsoSettings
from app.database import begin_write
from app.directory import team_by_name
from app.directory import user_by_email
from app.errors import PermissionDenied
from app.errors import ValidationError
from app.extensions import db
from app.models import Role
from app.models import Team
from app.models import User
from app.models import utcnow
from app.text import clean_text

TEAM_NAME_MAX = Team.__table__.c.name.type.length  # the column's size

log = logging.getLogger(__name__)

PICTURE_MAX_BYTES = 5 * 1024 * 1024
PICTURE_TIMEOUT_SECONDS = 5


class SsoFailed(ValidationError):
    """The sign-in did not complete (the provider refused, a forged or stale answer, a token
    that does not verify): nothing about the person is known."""


class SsoRefused(PermissionDenied):
    """The provider vouched for someone this app does not let in."""


@dataclass(frozen=True)
class Identity:
    """What a verified sign-in says about the person, in this app's terms."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    team: str | None
    groups: frozenset[str]
    picture: str | None


def _text_claim(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, str)), None)
    return value.strip() or None if isinstance(value, str) else None


def identity_from_claims(claims: Mapping[str, Any], settings: SsoSettings) -> Identity:
    """The identity in verified claims (ID token merged with userinfo)."""
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or not isinstance(subject, str) or not subject:
        raise SsoFailed("The identity provider's answer did not say who you are.")
    name = _text_claim(claims.get("name")) or " ".join(
        part
        for part in (_text_claim(claims.get("given_name")), _text_claim(claims.get("family_name")))
        if part
    )
    groups = claims.get(settings.groups_claim) if settings.groups_claim else None
    if isinstance(groups, str):
        groups = [groups]
    return Identity(
        issuer=issuer,
        subject=subject,
        email=_text_claim(claims.get("email")),
        # Some providers send the boolean as a string.
        email_verified=claims.get("email_verified") in (True, "true", "True"),
        name=name or None,
        team=_text_claim(claims.get(settings.team_claim)) if settings.team_claim else None,
        groups=frozenset(g for g in groups or () if isinstance(g, str)),
        picture=_text_claim(claims.get("picture")),
    )


# -- who the identity is ---------------------------------------------------------------------


def _linked_user(identity: Identity) -> User | None:
    return db.session.scalar(
        sa.select(User).where(
            User.oidc_issuer == identity.issuer, User.oidc_subject == identity.subject
        )
    )


def _checked_email(identity: Identity, settings: SsoSettings) -> str:
    if not identity.email:
        raise SsoRefused(
            "Your identity provider did not share your email address, so we cannot tell which "
            "account is yours. Ask an administrator to check the single sign-on setup."
        )
    try:
        email = auth.normalize_email(identity.email)
    except ValidationError:
        raise SsoRefused(
            f"Your identity provider sent an email address we cannot use ({identity.email})."
        ) from None
    if not settings.domain_allowed(email):
        raise SsoRefused(
            f"{email} cannot sign in here: only addresses at "
            f"{_domains_sentence(settings)} can use single sign-on."
        )
    return email


def _domains_sentence(settings: SsoSettings) -> str:
    domains = sorted(settings.allowed_domains)
    if not domains:
        return "the organization's domains (none is configured yet)"
    return ", ".join(domains)


def sign_in(identity: Identity, settings: SsoSettings, *, picture: bytes | None = None) -> User:
    """The account a verified identity signs in to: found, linked or created, and refreshed
    from the claims. Raises SsoRefused when the person may not sign in. The caller commits."""
    begin_write()  # the callback is a GET: on SQLite, take the write lock before reading
    email = _checked_email(identity, settings)
    user = _linked_user(identity)
    if user is None:
        user = user_by_email(email)
        if user is not None:
            _require_active(user)
            _link(user, identity)
        else:
            user = _create(identity, email)
    _require_active(user)
    if user.email != email:
        _follow_email_change(user, identity, email)
    _apply_team(user, identity)
    _apply_groups(user, identity, settings)
    user.last_login_at = utcnow()
    audit.record(user, "user.sso_login", user, issuer=identity.issuer)
    if picture is not None and user.photo_key is None:
        _save_picture(user, picture)
    return user


def _require_active(user: User) -> None:
    if not user.is_active_user:
        raise SsoRefused("This account has been deactivated. Ask an administrator.")


def _require_verified(identity: Identity) -> None:
    if not identity.email_verified:
        raise SsoRefused(
            "Your identity provider has not verified your email address, so it cannot be "
            "matched to an account here. Verify it with your provider, then try again."
        )


def _link(user: User, identity: Identity) -> None:
    """Attach the identity to an existing account with the same email (one link per account)."""
    _require_verified(identity)
    if user.oidc_subject is not None:
        raise SsoRefused(
            f"{user.email} already signs in with another single sign-on identity. "
            "Ask an administrator."
        )
    user.oidc_issuer, user.oidc_subject = identity.issuer, identity.subject
    audit.record(user, "user.sso_link", user, issuer=identity.issuer)


def _create(identity: Identity, email: str) -> User:
    """Just-in-time account for a first sign-in from an allowed domain."""
    _require_verified(identity)
    name = clean_text(identity.name or "", name=True)[: auth.DISPLAY_NAME_MAX].strip()
    user = auth.create_user(email, name or email.partition("@")[0])
    user.oidc_issuer, user.oidc_subject = identity.issuer, identity.subject
    audit.record(user, "user.sso_create", user, issuer=identity.issuer)
    return user


def _follow_email_change(user: User, identity: Identity, email: str) -> None:
    """The provider changed the person's address: follow it when verified and not taken."""
    if identity.email_verified and user_by_email(email) is None:
        audit.record(user, "user.sso_email", user, old=user.email, new=email)
        user.email = email


def _apply_team(user: User, identity: Identity) -> None:
    """The provider is the source of truth for the team when OIDC_TEAM_CLAIM is configured."""
    if not identity.team:
        return
    name = clean_text(identity.team, name=True)
    if not name or len(name) > TEAM_NAME_MAX:
        log.warning("SSO: ignoring team claim %r for %s (empty or too long)", name, user.email)
        return
    if user.team is not None and user.team.name.lower() == name.lower():
        return
    user.team = _team_named(name, user)


def _team_named(name: str, user: User) -> Team:
    """The team called `name`, created (and audited, as the admin page and SCIM do) if new."""
    team = team_by_name(name)
    if team is None:
        try:
            with db.session.begin_nested():  # someone else may create it at the same moment
                team = Team(name=name)
                db.session.add(team)
            audit.record(user, "team.create", team, name=name, via="sso")
        except IntegrityError:
            team = team_by_name(name)
            if team is None:
                raise
    return team


def _apply_groups(user: User, identity: Identity, settings: SsoSettings) -> None:
    if user.role == Role.EMPLOYEE and identity.groups & settings.editor_groups:
        user.role = Role.EDITOR
        audit.record(user, "user.sso_role", user, role=Role.EDITOR.value)


# -- the profile picture from the `picture` claim --------------------------------------------


def picture_wanted(identity: Identity) -> bool:
    """Download the provider's picture only for someone who has no photo yet."""
    if not identity.picture:
        return False
    user = _linked_user(identity)
    if user is None and identity.email:
        user = user_by_email(identity.email)
    return user is None or user.photo_key is None


def download_picture(url: str) -> bytes | None:
    """The picture at `url` (http/https, at most 5 MB, 5 s), or None with the reason logged:
    a picture must never stand between a person and signing in."""
    if urlsplit(url).scheme not in ("http", "https"):
        log.warning("SSO: picture %r is not an http(s) address; skipped", url[:200])
        return None
    try:
        with requests.get(url, timeout=PICTURE_TIMEOUT_SECONDS, stream=True) as response:
            response.raise_for_status()
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > PICTURE_MAX_BYTES:
                log.warning("SSO: picture at %s is %s bytes; skipped", url, declared)
                return None
            data = bytearray()
            for chunk in response.iter_content(64 * 1024):
                data += chunk
                if len(data) > PICTURE_MAX_BYTES:
                    log.warning(
                        "SSO: picture at %s is over %d bytes; skipped", url, PICTURE_MAX_BYTES
                    )
                    return None
            return bytes(data)
    except requests.RequestException as error:
        log.warning("SSO: could not download the picture at %s: %s", url, error)
        return None


def _save_picture(user: User, data: bytes) -> None:
    """Through the photos feature (checked, re-encoded, cropped); in a savepoint, so a picture
    it refuses (or a failure storing it) is logged and the sign-in goes on without it."""
    from app.photos.services import save_photo  # at call time: photos' views import auth's

    try:
        with db.session.begin_nested():
            save_photo(user, data)
    except Exception as error:  # noqa: BLE001 - logged; the sign-in goes on without a photo
        log.warning("SSO: the picture for %s was not saved: %s", user.email, error)
