"""Users, roles, collections and API tokens (filled in by the accounts store; none yet)."""

from __future__ import annotations


def current_store():
    """The app's accounts store, or None when none is configured."""
    return None


def identify(store, bearer: str):
    return None
