"""Cloudflare Access service-token headers for the tickets host (RCA 2026-06-19, cause 2).

``tickets.raxx.app/api/*`` sits behind Cloudflare Access application ``ca6fd315``
(decision ``non_identity``). Without ``CF-Access-Client-Id`` / ``CF-Access-Client-Secret``
every API call is refused by Access (403, or a 302 to ``*.cloudflareaccess.com``) before
FreeScout sees it. ``freescout_client._base_headers()`` merges these into every request.
"""

from __future__ import annotations

from typing import Any

CF_ACCESS_CLIENT_ID_HEADER = "CF-Access-Client-Id"
CF_ACCESS_CLIENT_SECRET_HEADER = "CF-Access-Client-Secret"

# (attribute on FreeScoutConfig, field on Settings): either object can be passed in.
_ID_NAMES = ("cf_client_id", "CF_ACCESS_SVC_TICKETS_CLIENT_ID")
_SECRET_NAMES = ("cf_client_secret", "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET")


def _read(config: Any, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = getattr(config, name, None)
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):  # pydantic SecretStr
            value = value.get_secret_value()
        text = str(value).strip()
        return text or None
    return None


def cf_access_service_headers(client_id: str | None, client_secret: str | None) -> dict[str, str]:
    """An Access service token's header pair, or ``{}`` unless both halves are set."""
    if not client_id or not client_secret:
        return {}
    return {CF_ACCESS_CLIENT_ID_HEADER: client_id, CF_ACCESS_CLIENT_SECRET_HEADER: client_secret}


def cf_access_tickets_headers(config: Any) -> dict[str, str]:
    """The service-token header pair, or ``{}`` when either half is unset.

    ``config`` is a ``FreeScoutConfig`` or the console ``Settings``. Half a pair is never
    sent: Access would refuse it anyway, and ``FreeScoutConfig.missing()`` names the gap.
    """
    return cf_access_service_headers(_read(config, _ID_NAMES), _read(config, _SECRET_NAMES))
