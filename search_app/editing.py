"""What an editor may change through the admin API: documents of the collections they edit, nothing else.

Admins (of `*`) pass every check. An editor's upload must name its collections (form field `collections`,
comma-separated) among those they edit, may not be a JSONL bulk file (its lines name their own ids) and may
not replace a document that lies (also) in a collection they do not edit; a removal is limited the same way,
and a document they cannot read answers like a missing one.
"""

from __future__ import annotations

from pathlib import Path

from flask import abort, request

from indexer.access import collections_of
from indexer.errors import QueryError
from search_app.auth import require_admin, require_editor
from search_app.identity import current_principal, current_readable
from search_app.state import holder

EDITOR_ENDPOINTS = ("admin.upload", "admin.remove")


def guard() -> None:
    """The admin API's credential check: editors may upload and remove, everything else needs an admin."""
    if request.endpoint in EDITOR_ENDPOINTS:
        require_editor()
    else:
        require_admin()


def _outside(collections: list[str], editable: frozenset[str]) -> list[str]:
    return [c for c in collections if c not in editable]


def check_upload(meta: dict, names: list[str]) -> None:
    """Refuse an editor's upload into a collection they do not edit, or over someone else's document."""
    editable = current_principal().editable()
    if editable is None:
        return
    given = meta.get("collections")
    if not given:
        raise QueryError("editors must say which collections the upload goes into: form field 'collections'")
    wanted = [c.strip() for c in given.split(",")] if isinstance(given, str) else list(given)
    if bad := _outside(wanted, editable):
        abort(403, description=f"you are not an editor of the collection {bad[0]!r}")
    if any(n.lower().endswith(".jsonl") for n in names):
        abort(403, description="only admins upload .jsonl bulk files")
    engine = holder().get()
    for name in names:
        existing = engine.document(Path(name).stem)
        if existing is not None and _outside(collections_of(existing.meta), editable):
            abort(403, description=f"{name!r} would replace a document outside your collections; rename the file")


def check_remove(doc) -> None:
    """Refuse an editor's removal of a document outside the collections they edit (unreadable: 404)."""
    editable = current_principal().editable()
    if editable is None:
        return
    readable = current_readable()
    theirs = collections_of(doc.meta)
    if readable is not None and not readable.intersection(theirs):
        abort(404, description=f"no document {doc.doc_id!r} in the index")
    if _outside(theirs, editable):
        abort(403, description=f"{doc.doc_id!r} is (also) in a collection you do not edit")
