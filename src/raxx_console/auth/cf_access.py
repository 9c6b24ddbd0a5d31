"""Cloudflare Access identity: the ``Cf-Access-Jwt-Assertion`` header names who is at the keyboard.

When the console sits behind an Access application, Cloudflare signs a JWT (RS256) for every
request. We check it ourselves rather than trust the header's presence — anyone who reaches the
origin directly could set it: signature against the team's JWKS (matched by ``kid``), ``aud`` =
``CF_ACCESS_AUD``, ``iss`` = the team domain, ``exp``/``nbf``. The ``email`` claim must name an
existing, enabled console user; Access decides who may reach the console, the console decides
what they may do. Off unless both ``CF_ACCESS_TEAM_DOMAIN`` and ``CF_ACCESS_AUD`` are set.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
from flask import request

from raxx_console.auth import service
from raxx_console.auth.models import User
from raxx_console.config import Settings
from raxx_console.context import console, db_session

log = logging.getLogger("raxx_console.auth")

HEADER = "Cf-Access-Jwt-Assertion"
_COMPONENT = "cf_access_verifier"
#: Clock skew we tolerate between Cloudflare's edge and this dyno.
LEEWAY_SECONDS = 30
JWKS_TIMEOUT_SECONDS = 5
#: Access rotates its signing keys every six weeks and publishes the next one early.
JWKS_CACHE_SECONDS = 3600


class CfAccessVerifier:
    """Validates Access JWTs for one team and application; keys are fetched by ``kid`` and cached."""

    def __init__(self, team_domain: str, audience: str, certs_url: str | None = None) -> None:
        domain = team_domain.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
        self.issuer = f"https://{domain}"
        self.audience = audience.strip()
        self.jwks = jwt.PyJWKClient(
            certs_url or f"{self.issuer}/cdn-cgi/access/certs",
            cache_keys=True,
            lifespan=JWKS_CACHE_SECONDS,
            timeout=JWKS_TIMEOUT_SECONDS,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> CfAccessVerifier | None:
        if not (settings.CF_ACCESS_TEAM_DOMAIN and settings.CF_ACCESS_AUD):
            return None
        return cls(settings.CF_ACCESS_TEAM_DOMAIN, settings.CF_ACCESS_AUD, settings.CF_ACCESS_CERTS_URL)

    def claims(self, token: str) -> dict[str, Any] | None:
        """The token's claims if it is valid; None (and a WARNING naming why, never the token) if not."""
        try:
            key = self.jwks.get_signing_key_from_jwt(token)
            return jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:  # bad token, unknown kid, JWKS unreachable
            log.warning("cf_access_rejected reason=%s: %s", type(exc).__name__, exc)
            return None


def _verifier() -> CfAccessVerifier | None:
    """One verifier per process (its JWKS cache is the point), built on first use."""
    ctx = console()
    if _COMPONENT not in ctx.components:
        ctx.components.setdefault(_COMPONENT, CfAccessVerifier.from_settings(ctx.settings))
    return ctx.components[_COMPONENT]


def user_from_cf_access() -> User | None:
    """The console user named by a valid Access JWT, or None."""
    token = request.headers.get(HEADER, "").strip()
    if not token:
        return None
    verifier = _verifier()
    if verifier is None:
        return None
    claims = verifier.claims(token)
    if claims is None:
        return None
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        log.warning("cf_access_rejected reason=no_email_claim sub=%s", claims.get("sub"))
        return None
    user = service.find_user(db_session(), email)
    if user is None or user.disabled:
        log.warning(
            "cf_access_unknown_user email=%s: Access let them in, but there is no enabled console user "
            "with that email (raxx-console user create --no-password)",
            email.strip().lower(),
        )
        return None
    return user
