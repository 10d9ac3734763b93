"""Each request runs in a lane with a time budget (indexer.limits): why one user cannot slow down the rest.

Interactive requests (pages, /api/search, /api/similar, the CSV export) get `request_budget_s` and go
first at the model; the batch endpoint gets `batch_budget_s`, a limited number of slots, caps on
queries x k and on the answer's size, and gives way to interactive requests between slices.
Admin requests (uploads, re-indexing) have no deadline but embed their passages at batch priority, so
an upload never holds the model ahead of a query. Health, the OpenAPI description and static files run
without a budget.
"""

from __future__ import annotations

import contextlib

from flask import Flask, current_app, g, request

from indexer import limits
from indexer.config import Settings
from indexer.errors import QueryError

BATCH_ENDPOINTS = frozenset({"api.search_batch"})
UNBUDGETED = frozenset({"api.health", "api.openapi", "static"})
ADMIN = "admin"
SLOTS_KEY = "policy_search_batch_slots"


def lane_of(endpoint: str | None) -> str | None:
    """The lane of a request, or None for requests that run without a budget."""
    if endpoint is None or endpoint in UNBUDGETED:
        return None
    if endpoint.startswith(("admin.", "console.")) or endpoint == "api.reload":
        return ADMIN
    return limits.BATCH if endpoint in BATCH_ENDPOINTS else limits.INTERACTIVE


def register(app: Flask, settings: Settings) -> None:
    app.extensions[SLOTS_KEY] = limits.Slots(settings.batch_slots, settings.batch_queue_s, "batch lane")

    @app.before_request
    def _open_budget() -> None:
        lane = lane_of(request.endpoint)
        if lane is None:
            return
        seconds = {limits.BATCH: settings.batch_budget_s, ADMIN: float("inf")}.get(lane, settings.request_budget_s)
        stack = contextlib.ExitStack()
        stack.enter_context(limits.budget(seconds, limits.BATCH if lane == ADMIN else lane, settings.batch_yield_max_s))
        g._policy_search_budget = stack

    @app.teardown_request
    def _close_budget(_exc) -> None:
        stack = g.pop("_policy_search_budget", None)
        if stack is not None:
            stack.close()


def batch_slot():
    """A slot in the batch lane (503 with Retry-After when none frees up within batch_queue_s)."""
    return current_app.extensions[SLOTS_KEY].take()


def check_batch_size(n_queries: int, k: int, settings: Settings) -> None:
    """Refuse a batch whose queries x k is over the cap, before any work is done."""
    if n_queries * k > settings.batch_max_results:
        raise QueryError(
            f"batch too large: {n_queries} queries x k={k} = {n_queries * k} results; the limit is "
            f"{settings.batch_max_results} (POLICY_SEARCH_BATCH_MAX_RESULTS): split it or lower k"
        )


def check_response_size(n_bytes: int, settings: Settings) -> None:
    limit = settings.batch_max_response_mb * 1024 * 1024
    if n_bytes > limit:
        raise QueryError(
            f"the answer would be {n_bytes / 1048576:.1f} MB; the limit is {settings.batch_max_response_mb} MB "
            "(POLICY_SEARCH_BATCH_MAX_RESPONSE_MB): ask for fewer queries or a smaller k"
        )
