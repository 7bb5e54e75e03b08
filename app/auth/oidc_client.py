"""The OpenID Connect protocol, done by Authlib: the authorization code flow with PKCE (S256),
`state` and `nonce` kept in the session, the code exchanged with the client secret, and the ID
token's signature checked against the provider's JWKS with its issuer, audience, expiry and nonce.

Everything here talks to the provider or the session; what the verified claims mean for an
account is `app.auth.sso`. Every failure becomes `SsoFailed` with a sentence for the person and
the technical reason in the log.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import FlaskOAuth2App
from authlib.integrations.flask_client import OAuth
from flask import current_app
from flask import request
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from app.auth.sso import SsoFailed
from app.auth.sso import SsoSettings

log = logging.getLogger(__name__)

NAME = "sso"  # Authlib's session keys: _state_sso_<state>
HTTP_TIMEOUT_SECONDS = 10
# Clock difference tolerated between the provider and this server for exp/iat, in seconds.
LEEWAY_SECONDS = 60


def _client(settings: SsoSettings) -> FlaskOAuth2App:
    """One Authlib client per configuration (its discovery document and keys are cached)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    clients = app.extensions.setdefault("feelgood.sso_clients", {})
    key = (settings.issuer, settings.client_id, settings.client_secret, settings.scopes)
    if key not in clients:
        oauth = OAuth(app)
        clients[key] = oauth.register(
            NAME,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            server_metadata_url=f"{str(settings.issuer).rstrip('/')}/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.scopes,
                "code_challenge_method": "S256",
                "default_timeout": HTTP_TIMEOUT_SECONDS,
            },
        )
    return clients[key]


def _metadata(client: FlaskOAuth2App, settings: SsoSettings) -> dict[str, Any]:
    try:
        metadata = client.load_server_metadata()
    except (requests.RequestException, ValueError) as error:
        log.warning("SSO: discovery document of %s unavailable: %s", settings.issuer, error)
        raise SsoFailed(
            f"We could not reach {settings.provider_name} just now. Please try again in a minute."
        ) from None
    # OpenID Connect Discovery 1.0, section 4.3: the document must name the configured issuer.
    if str(metadata.get("issuer", "")).rstrip("/") != str(settings.issuer).rstrip("/"):
        log.error(
            "SSO: OIDC_ISSUER is %r but the provider calls itself %r",
            settings.issuer, metadata.get("issuer"),
        )  # fmt: skip
        raise SsoFailed("Single sign-on is not set up correctly. Ask an administrator.")
    return metadata


def start(settings: SsoSettings, redirect_uri: str) -> Response:
    """The redirect to the provider; state, nonce and the PKCE verifier stay in the session."""
    client = _client(settings)
    _metadata(client, settings)
    return client.authorize_redirect(redirect_uri)


def finish(settings: SsoSettings) -> dict[str, Any]:
    """The verified claims of the sign-in the provider sent back to the callback: the ID token's,
    with the userinfo endpoint's added (many providers put email and name only there)."""
    client = _client(settings)
    metadata = _metadata(client, settings)
    # RFC 9207: a provider that names itself in the response must be the one we asked.
    returned_issuer = request.args.get("iss")
    if returned_issuer is not None and returned_issuer != metadata["issuer"]:
        log.warning(
            "SSO: response from issuer %r, expected %r", returned_issuer, metadata["issuer"]
        )
        raise SsoFailed(
            "That sign-in answer came from another identity provider. Please try again."
        )
    options = {
        "iss": {"essential": True, "value": metadata["issuer"]},
        "aud": {"essential": True, "value": settings.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
    }
    try:
        token = client.authorize_access_token(claims_options=options, leeway=LEEWAY_SECONDS)
        claims = dict(token.get("userinfo") or {})
        if not claims:  # no ID token (or no nonce in our state): not an OpenID Connect answer
            raise SsoFailed("The identity provider did not send an ID token. Please try again.")
        if metadata.get("userinfo_endpoint"):
            extra = dict(client.userinfo(token=token))
            # OpenID Connect Core 5.3.2: userinfo about anyone else must not be used.
            if extra.get("sub") != claims["sub"]:
                raise SsoFailed("The identity provider's answers did not match. Please try again.")
            for key, value in extra.items():
                claims.setdefault(key, value)
    except OAuthError as error:
        log.warning("SSO: sign-in failed: %s %s", error.error, error.description)
        if error.error == "mismatching_state":
            raise SsoFailed(
                "This sign-in link was already used or has expired. Please start again."
            ) from None
        if error.error == "access_denied":
            raise SsoFailed(f"{settings.provider_name} did not let you sign in.") from None
        raise SsoFailed(
            f"Signing in with {settings.provider_name} did not work. Please start again."
        ) from None
    except JoseError as error:
        log.warning("SSO: ID token refused: %s", error)
        raise SsoFailed(
            "The identity provider's answer could not be verified. Please start again."
        ) from None
    except (requests.RequestException, ValueError) as error:
        log.warning("SSO: provider unreachable or unreadable during sign-in: %s", error)
        raise SsoFailed(
            f"We could not reach {settings.provider_name} just now. Please try again in a minute."
        ) from None
    return claims
