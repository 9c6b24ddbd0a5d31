"""security_headers: every answer says what a browser may do with it.

A small after-request hook rather than a library (docs/decisions.md, "Security headers"): a CSP
without inline script or style (the pages load ``static/`` files only), no framing at all
(the Investigate and flag forms must not be clickjacked), ``nosniff``, a referrer kept
on-site, and HSTS in production.
"""

from __future__ import annotations

from flask import Flask, Response

from raxx_console.context import console

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: Production only: a staging or laptop host must stay reachable over plain HTTP.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if console().settings.is_production:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)
