"""The single sign-on settings (OIDC_*, PASSWORD_LOGIN_ENABLED) and the rules read from them
alone: is SSO on, may everyone use a password, whose password still matters.

Apart from `app.auth.sso` so that the invitation and password services can ask the same rule
without importing the sign-in flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.models import Role
from app.models import User


def _split(value: str | None) -> frozenset[str]:
    return frozenset(item.strip() for item in (value or "").split(",") if item.strip())


def _with_openid(scopes: str | None) -> str:
    """OpenID Connect needs the `openid` scope (without it there is no ID token, no nonce)."""
    words = (scopes or "").split()
    return " ".join(words if "openid" in words else ["openid", *words])


@dataclass(frozen=True)
class SsoSettings:
    """The OIDC_* settings, read once per request from the app's configuration."""

    issuer: str | None
    client_id: str | None
    client_secret: str | None
    scopes: str
    allowed_domains: frozenset[str]
    provider_name: str
    team_claim: str | None
    groups_claim: str | None
    editor_groups: frozenset[str]
    password_login_enabled: bool

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SsoSettings:
        return cls(
            issuer=(config.get("OIDC_ISSUER") or "").strip() or None,
            client_id=(config.get("OIDC_CLIENT_ID") or "").strip() or None,
            client_secret=config.get("OIDC_CLIENT_SECRET") or None,
            scopes=_with_openid(config.get("OIDC_SCOPES")),
            allowed_domains=frozenset(
                d.lower() for d in _split(config.get("OIDC_ALLOWED_DOMAINS"))
            ),
            provider_name=config.get("OIDC_PROVIDER_NAME") or "your company account",
            team_claim=(config.get("OIDC_TEAM_CLAIM") or "").strip() or None,
            groups_claim=(config.get("OIDC_GROUPS_CLAIM") or "").strip() or None,
            editor_groups=_split(config.get("OIDC_EDITOR_GROUPS")),
            password_login_enabled=bool(config.get("PASSWORD_LOGIN_ENABLED", True)),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id)

    @property
    def password_login(self) -> bool:
        """Whether everyone may sign in with a password. Turning it off only counts while SSO
        is on, so a configuration mistake can never lock everybody out."""
        return self.password_login_enabled or not self.enabled

    def uses_password(self, user: User) -> bool:
        """Whether `user` has a password to manage: everyone unless password sign-in is off,
        then only admins (their break-glass sign-in, /login?password=1)."""
        return self.password_login or user.role == Role.ADMIN

    def domain_allowed(self, email: str) -> bool:
        domain = email.rpartition("@")[2].lower()
        return "*" in self.allowed_domains or domain in self.allowed_domains
