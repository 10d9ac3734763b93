"""The admin token check shared by every endpoint that changes the index or the server state.

Off by default: without POLICY_SEARCH_ADMIN_TOKEN the admin endpoints answer 403 (a
deployment must opt in); with it, a missing or wrong token is 401. Reading stays open.
"""

from __future__ import annotations

import hmac

from flask import abort, request
from werkzeug.exceptions import Unauthorized

from search_app.state import current_settings

HOW = "send it as 'Authorization: Bearer <token>' or 'X-Admin-Token: <token>'"


def given_token() -> str:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("X-Admin-Token", "").strip()


def token_bytes(given: str) -> bytes:
    """The header's raw bytes: WSGI hands headers over decoded as Latin-1, so a UTF-8 token sent as
    UTF-8 comes back byte for byte this way (a str that is not Latin-1 came from elsewhere: UTF-8)."""
    try:
        return given.encode("latin-1")
    except UnicodeEncodeError:
        return given.encode("utf-8")


def require_admin() -> None:
    """Abort with 403 when the admin API is off, 401 when the token is missing or wrong."""
    token = current_settings().admin_token
    if not token:
        abort(403, description="admin API disabled: set POLICY_SEARCH_ADMIN_TOKEN on the server to enable it")
    given = given_token()
    if not given:
        raise Unauthorized(description=f"this needs the admin token; {HOW}")
    if not hmac.compare_digest(token_bytes(given), token.encode("utf-8")):
        raise Unauthorized(description=f"wrong admin token; {HOW}")
