"""Web front end of the policy-document search engine: HTML pages plus a JSON API.

`create_app` is the only entry point; the CLI (`python -m search_app serve`) and
the tests build the app through it, the tests with a fake engine injected.
"""

from __future__ import annotations

from flask import Flask

from indexer.config import Settings
from search_app import errors, i18n, lanes
from search_app.state import EXTENSION_KEY, EngineHolder

# Content-Security-Policy: the only script is our own static copy.js (no inline script, nothing
# from elsewhere), so even a markup bug in a passage could not execute or phone home.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def create_app(settings: Settings | None = None, engine=None) -> Flask:
    """Build the app; `engine` (anything with the SearchEngine interface) skips opening the real one."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    # Room for a full batch of maximum-length queries (UTF-8 Chinese is 3 bytes a char), no more.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_batch_queries * (settings.max_query_chars * 4 + 8) + 65536
    app.json.ensure_ascii = False  # Chinese stays readable in API answers
    app.json.sort_keys = False  # keep {"query", "took_ms", "mode", "results"} in documented order
    app.extensions[EXTENSION_KEY] = EngineHolder(settings, engine)

    from search_app.admin import bp as admin_bp
    from search_app.api import bp as api_bp
    from search_app.pages import bp as pages_bp

    app.register_blueprint(pages_bp)
    i18n.register(app)
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(admin_bp, url_prefix="/api/admin")
    errors.register(app)
    lanes.register(app, settings)
    _register_access(app, settings)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return app


def _register_access(app: Flask, settings: Settings) -> None:
    """Collections and who may see them: accounts, sign-in, CSRF, the audit log and the admin page."""
    from search_app import accounts, audit, console, signin

    app.extensions[accounts.EXTENSION_KEY] = accounts.AccountStore.from_settings(settings)
    app.extensions[audit.EXTENSION_KEY] = audit.AuditLog.from_settings(settings)
    signin.register(app)
    console.register(app)


__all__ = ["create_app"]
