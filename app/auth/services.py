"""Accounts: authentication, signed single-use links (invitation, password reset), passwords.

Tokens carry the user's security stamp; setting a password rotates the stamp, so a link works
once and every older link (and every other session) stops working at the same moment.
"""

from __future__ import annotations

from email_validator import EmailNotValidError
from email_validator import validate_email
from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import URLSafeTimedSerializer
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from app import audit
from app.auth.sso_settings import SsoSettings
from app.directory import user_by_email
from app.errors import PermissionDenied
from app.errors import TokenError
from app.errors import ValidationError
from app.extensions import db
from app.mail import send_email_after_commit
from app.models import Role
from app.models import Team
from app.models import User
from app.models import utcnow
from app.text import clean_text
from app.web.urls import absolute_url

INVITE = "invite"
DISPLAY_NAME_MAX = 120  # the column size
RESET = "reset"
PASSWORD_MIN = 10
PASSWORD_MAX = 200
GENERIC_LOGIN_ERROR = "That email and password don't match an account."
ADMIN_LOGIN_ERROR = (
    "That email and password don't match an administrator account. Password sign-in is "
    "turned off here: everyone else signs in with single sign-on."
)
PASSWORD_LOGIN_OFF = "Password sign-in is turned off here: sign in with single sign-on instead."  # noqa: S105
# Compared against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = generate_password_hash("timing-equaliser", method="scrypt")


class AuthenticationFailed(PermissionDenied):
    status_code = 401


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"feelgood.{purpose}")


def make_token(user: User, purpose: str) -> str:
    return _serializer(purpose).dumps({"uid": user.id, "stamp": user.security_stamp})


def user_from_token(token: str, purpose: str, *, admins_only: bool = False) -> User:
    """The user a link belongs to, or TokenError saying plainly why the link cannot be used.
    `admins_only`: password sign-in is turned off, so only an administrator's link still works."""
    max_age = current_app.config[
        "INVITE_TOKEN_MAX_AGE" if purpose == INVITE else "RESET_TOKEN_MAX_AGE"
    ]
    try:
        payload = _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise TokenError("This link has expired. Ask for a new one.") from None
    except BadSignature:
        raise TokenError("This link is not valid. Check that you copied all of it.") from None
    user = db.session.get(User, payload.get("uid")) if isinstance(payload, dict) else None
    if user is None or not user.is_active_user:
        raise TokenError("This link is not valid any more.")
    if user.security_stamp != payload.get("stamp"):
        raise TokenError("This link has already been used. Sign in, or ask for a new one.")
    if admins_only and not user.is_admin:
        raise TokenError(PASSWORD_LOGIN_OFF)
    return user


def normalize_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationError("Enter a valid email address.") from None


def check_password_policy(password: str, *, email: str | None = None) -> None:
    if len(password) < PASSWORD_MIN:
        raise ValidationError(f"Use at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise ValidationError(f"Use at most {PASSWORD_MAX} characters.")
    if email and password.strip().lower() == email.lower():
        raise ValidationError("Your password cannot be your email address.")


def authenticate(email: str, password: str, *, admins_only: bool = False) -> User:
    """The account for an email and password. `admins_only` (password sign-in turned off for
    everyone else): anyone but an administrator gets the same refusal as a wrong password, so
    the form tells nobody whose password was right."""
    failure = ADMIN_LOGIN_ERROR if admins_only else GENERIC_LOGIN_ERROR
    user = user_by_email(email)
    if user is None or not user.password_hash:
        check_password_hash(_DUMMY_HASH, password)
        raise AuthenticationFailed(failure)
    if not user.check_password(password) or (admins_only and not user.is_admin):
        raise AuthenticationFailed(failure)
    if not user.is_active_user:
        raise AuthenticationFailed("This account has been deactivated. Ask an administrator.")
    user.last_login_at = utcnow()
    return user


def create_user(
    email: str,
    display_name: str,
    *,
    role: Role = Role.EMPLOYEE,
    team: Team | None = None,
    password: str | None = None,
    actor: User | None = None,
) -> User:
    email = normalize_email(email)
    display_name = clean_text(display_name, name=True)
    if not display_name:
        raise ValidationError("Enter the person's name.")
    if len(display_name) > DISPLAY_NAME_MAX:
        raise ValidationError(f"Use at most {DISPLAY_NAME_MAX} characters for the name.")
    if db.session.scalar(db.select(User.id).where(User.email == email)) is not None:
        raise ValidationError(f"{email} already has an account.")
    user = User(email=email, display_name=display_name, role=role, team=team)
    if password is not None:
        check_password_policy(password, email=email)
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.create", user, email=email, role=role.value)
    return user


def invite_user(
    email: str, display_name: str, *, role: Role, team: Team | None, actor: User
) -> User:
    user = create_user(email, display_name, role=role, team=team, actor=actor)
    _send_invite(user, actor)
    return user


def resend_invite(user: User, *, actor: User) -> None:
    if user.has_password:
        raise ValidationError(f"{user.display_name} has already set a password.")
    if not user.is_active_user:
        raise ValidationError("Reactivate the account before sending an invitation.")
    _send_invite(user, actor)


def _send_invite(user: User, actor: User) -> None:
    """With password sign-in off (SSO only), the invitation says "sign in with <provider>" and
    links to the sign-in page: a password chosen there could never be used."""
    user.invited_at = utcnow()
    audit.record(actor, "user.invite", user)
    sso = SsoSettings.from_config(current_app.config)
    if sso.uses_password(user):
        link, provider = absolute_url("auth.accept_invite", token=make_token(user, INVITE)), None
    else:
        link, provider = absolute_url("auth.login"), sso.provider_name
    send_email_after_commit(
        user.email,
        "You're invited to Feel Good Fridays",
        "invite",
        user=user,
        inviter=actor,
        link=link,
        sso_provider=provider,
        expires_days=current_app.config["INVITE_TOKEN_MAX_AGE"] // 86400,
    )


def accept_invite(token: str, password: str) -> User:
    user = user_from_token(token, INVITE)
    check_password_policy(password, email=user.email)
    user.set_password(password)
    user.last_login_at = utcnow()
    audit.record(user, "user.accept_invite", user)
    return user


def request_password_reset(email: str, *, admins_only: bool = False) -> None:
    """Email a reset link if the address belongs to an active account; say nothing either way.
    `admins_only` (password sign-in turned off): only administrators have a password to reset."""
    user = user_by_email(email)
    if user is None or not user.is_active_user or (admins_only and not user.is_admin):
        return
    link = absolute_url("auth.reset_password", token=make_token(user, RESET))
    audit.record(user, "user.request_reset", user)
    send_email_after_commit(
        user.email,
        "Reset your Feel Good Fridays password",
        "password_reset",
        user=user,
        link=link,
        expires_hours=max(1, current_app.config["RESET_TOKEN_MAX_AGE"] // 3600),
    )


def reset_password(token: str, password: str, *, admins_only: bool = False) -> User:
    user = user_from_token(token, RESET, admins_only=admins_only)
    check_password_policy(password, email=user.email)
    user.set_password(password)
    audit.record(user, "user.reset_password", user)
    return user


def change_password(user: User, current: str, new: str) -> None:
    if not user.check_password(current):
        raise ValidationError("Your current password is not right.")
    check_password_policy(new, email=user.email)
    user.set_password(new)
    audit.record(user, "user.change_password", user)


def load_user(session_id: str) -> User | None:
    """Flask-Login loader: "id:stamp"; a changed stamp or deactivation ends the session."""
    user_id, _, stamp = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active_user or user.security_stamp != stamp:
        return None
    return user
