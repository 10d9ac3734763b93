"""Admin API under /api/admin: upload documents, remove one, re-index the document folders.

Every endpoint needs the admin token (search_app.auth: 403 when the admin API is off,
401 without the right token). Uploads are stored under settings.uploads_dir with a name
built from the original one by indexer.documents.safe_doc_id (letters, digits, CJK, -
and _ only), so no path can be smuggled in through a file name; then
indexer.pipeline.add_documents indexes them into a new version, switched atomically.
A file from which no document gets indexed (binary, empty, undecodable, a duplicate) is
reported and not kept, and a file it replaced is put back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from flask import Blueprint, abort, jsonify, request
from werkzeug.datastructures import FileStorage

from indexer import documents as doc_loader
from indexer import metadata, pipeline
from indexer.errors import QueryError, SearchEngineError
from search_app import editing, params
from search_app.state import current_settings, holder

bp = Blueprint("admin", __name__)
log = logging.getLogger(__name__)

_LOCK = threading.Lock()  # one admin change at a time in this process (the index lock covers other processes)
MAX_FILES = 50
NAME_MAX_BYTES = 255  # file names are limited in bytes (ext4, APFS, NTFS in UTF-16 units: no less)
NAMES_FILE = ".names.json"  # stored name -> uploaded name, where they differ (to report name collisions)


@bp.before_request
def _guard() -> None:
    """Token first (nothing of the body is read without it), then the upload size limit."""
    editing.guard()  # admins; editors for upload and remove (within their collections)
    request.max_content_length = current_settings().max_upload_mb * 1024 * 1024


# ---------------------------------------------------------------- file names


def accepted_suffixes() -> tuple[str, ...]:
    """What the document loader reads."""
    return tuple(s.lower() for s in doc_loader.SUFFIXES)


def base_name(filename: str, nfc: bool = True) -> str:
    """The last path component of an uploaded name (NFC unless asked for the name as sent)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return unicodedata.normalize("NFC", base) if nfc else base


def stored_name(filename: str) -> str:
    """A safe file name for an upload: the last path component only, stem made safe, suffix checked.

    `../../x.txt` -> `x.txt`, `C:\\evil\\a b.md` -> `a-b.md`; a type the loader cannot read is refused.
    """
    base = base_name(filename)
    stem, dot, ext = base.rpartition(".")
    suffix = f".{ext.lower()}" if dot else ""
    accepted = accepted_suffixes()
    if suffix not in accepted:
        raise QueryError(
            f"{base[:80]!r}: unsupported file type {suffix or '(none)'!r}; accepted: {', '.join(accepted)}"
        )
    name = doc_loader.safe_doc_id(stem) + suffix
    if len((name + doc_loader.SIDECAR_SUFFIX).encode("utf-8")) > NAME_MAX_BYTES:  # ids are capped in bytes
        raise QueryError(f"{base[:80]!r}: the file name is too long, even shortened")
    return name


def _sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + doc_loader.SIDECAR_SUFFIX)


def _within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (OSError, ValueError):
        return False
    return True


# ---------------------------------------------------------------- staging with rollback


@dataclass
class _Staged:
    """One uploaded file written in place; what it replaced is kept aside until the index accepts it."""

    original: str
    path: Path
    replaced: list[tuple[Path, Path | None]] = field(default_factory=list)  # (target, backup or None)

    def write(self, target: Path, data_source) -> None:
        backup = None
        if target.exists():  # the backup's name does not grow with the target's (255-byte names)
            backup = target.with_name(f".bak-{uuid.uuid4().hex}")
            os.replace(target, backup)
        self.replaced.append((target, backup))
        part = target.with_name(f".part-{uuid.uuid4().hex}")
        try:
            data_source(part)
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)

    def rollback(self) -> None:
        for target, backup in reversed(self.replaced):
            target.unlink(missing_ok=True)
            if backup is not None:
                os.replace(backup, target)

    def commit(self) -> None:
        for _, backup in self.replaced:
            if backup is not None:
                backup.unlink(missing_ok=True)


def _sidecar_from_form(form) -> dict:
    """Optional metadata fields of a single-file upload, checked like the loader checks a sidecar."""
    meta: dict = {}
    for key in metadata.FIELDS:
        value = (form.get(key) or "").strip()
        if not value:
            continue
        if len(value) > 500:
            raise QueryError(f"{key} is {len(value)} characters long; at most 500")
        meta[key] = value
    if "year" in meta:
        meta["year"] = params.parse_year(meta["year"], "year")
    return meta


def _stage(uploads: list[tuple[FileStorage, str]], meta: dict, folder: Path) -> list[_Staged]:
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[_Staged] = []
    try:
        for upload, name in uploads:
            target = folder / name
            if not _within(target, folder):  # cannot happen with safe_doc_id names; checked anyway
                raise QueryError(f"{upload.filename!r}: unsafe file name")
            s = _Staged(original=upload.filename or name, path=target)
            staged.append(s)
            s.write(target, upload.save)
            if meta:
                body = json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8")
                s.write(_sidecar_of(target), lambda p, body=body: p.write_bytes(body))
    except BaseException:
        for s in staged:
            s.rollback()
        raise
    return staged


# ---------------------------------------------------------------- reports


def _embedder():
    """The serving engine's embedder (no second copy of the model); None lets the pipeline load it."""
    h = holder()
    if not h.opened:
        return None
    return h.get(refresh=False).embedder


def report_json(report: pipeline.BuildReport, renames: dict[str, str] | None = None) -> dict:
    """The BuildReport as JSON, server paths in error messages replaced by the uploaded file names."""
    body = dataclasses.asdict(report)
    body["seconds"] = round(report.seconds, 3)
    errors = []
    for err in report.errors:
        for path, name in (renames or {}).items():
            if err.startswith(path + ":"):
                err = name + err[len(path) :]
                break
        errors.append(err)
    body["errors"] = errors
    body["summary"] = report.summary()
    return body


def _sources(doc_ids: list[str]) -> dict[str, str]:
    """doc_id -> the file it was read from, as the (new) index records it."""
    try:
        engine = holder().get()  # picks up the version just written
    except SearchEngineError:  # nothing indexed yet
        return {}
    return {d: doc.source_path for d in doc_ids if (doc := engine.document(d)) is not None}


def _comes_from(source: str, path: Path) -> bool:
    """A document read from `path` (a JSONL line's source is `path:line`)."""
    return source == str(path) or source.startswith(f"{path}:")


def _refresh_engine() -> None:
    """Let the serving engine pick up the new version now (it would on the next request anyway)."""
    h = holder()
    if h.opened:
        h.get(refresh=True)


# ---------------------------------------------------------------- name collisions


def _read_names(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / NAMES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_names(folder: Path, names: dict[str, str]) -> None:
    """Best effort: the record only improves later collision reports, it never blocks an upload."""
    names = {stored: original for stored, original in names.items() if stored != original}
    part = folder / f".part-{uuid.uuid4().hex}"
    try:
        if not names:
            (folder / NAMES_FILE).unlink(missing_ok=True)
            return
        part.write_text(json.dumps(names, ensure_ascii=False), encoding="utf-8")
        os.replace(part, folder / NAMES_FILE)
    except OSError as exc:
        log.warning("could not record upload names in %s: %s", folder, exc)
    finally:
        part.unlink(missing_ok=True)


def collision_note(filename: str, stored: str, known: dict[str, str], exists: bool) -> str | None:
    """Why an upload replaced a document it may not have meant to: another name mapping to the same file.

    Names that differ only in letter width (ｆｏｏ/foo), spaces or punctuation (a b/a-b) or Unicode form
    (NFD/NFC) are stored under one name; re-uploading the very same name is a plain replacement.
    """
    if not exists:
        return None
    base, before = base_name(filename, nfc=False), known.get(stored)
    if base == (before or stored):
        return None
    earlier = f"the earlier upload {before!r}" if before else "an existing file"
    return (
        f"{base!r} is stored as {stored!r}, the same name as {earlier}: it replaced that document "
        "(names that differ only in letter width, spaces, punctuation or Unicode form share one stored name)"
    )


# ---------------------------------------------------------------- endpoints


def _index_uploads(files: list[FileStorage], names: list[str], meta: dict, settings):
    """Stage the files, index them, keep those that gave a document and put back what the others replaced."""
    staged = _stage(list(zip(files, names)), meta, settings.uploads_dir)
    try:
        report = pipeline.add_documents([s.path for s in staged], settings, embedder=_embedder())
    except BaseException:
        for s in staged:
            s.rollback()
        raise
    sources = _sources(report.added + report.replaced + report.unchanged)
    from_file = {s.path: sorted(d for d, src in sources.items() if _comes_from(src, s.path)) for s in staged}
    rejected = {path for path, ids in from_file.items() if not ids}
    for s in staged:
        if s.path in rejected:
            s.rollback()
        else:
            s.commit()
    return report, staged, from_file, rejected


@bp.post("/documents")
def upload():
    """Multipart upload (field `file`, repeatable); optional title/date/year/source/type for one file."""
    settings = current_settings()
    if request.mimetype != "multipart/form-data":
        raise QueryError("send the documents as multipart/form-data, one or more files in the field 'file'")
    files = [f for key in ("file", "files") for f in request.files.getlist(key) if f and f.filename]
    if not files:
        raise QueryError("no file in the request: send one or more files in the multipart field 'file'")
    if len(files) > MAX_FILES:
        raise QueryError(f"too many files: {len(files)} (at most {MAX_FILES} per request)")
    meta = _sidecar_from_form(request.form)
    if set(meta) - {"collections"} and len(files) != 1:
        raise QueryError("metadata fields (title, date, year, source, type) apply to a single uploaded file")
    names = [stored_name(f.filename) for f in files]
    clash = next((n for n in names if names.count(n) > 1), None)
    if clash:
        same = [base_name(f.filename) for f, n in zip(files, names) if n == clash]
        listed = ", ".join(map(repr, same))
        raise QueryError(f"two uploaded files would both be stored as {clash!r} ({listed}); rename one")
    editing.check_upload(meta, names)
    folder = settings.uploads_dir
    with _LOCK:
        known = _read_names(folder)
        notes = [collision_note(f.filename, n, known, (folder / n).exists()) for f, n in zip(files, names)]
        report, staged, from_file, rejected = _index_uploads(files, names, meta, settings)
        known.update({s.path.name: base_name(s.original, nfc=False) for s in staged if s.path not in rejected})
        _write_names(folder, known)
    body = report_json(report, {str(s.path): s.original for s in staged})
    body["files"] = [
        {
            "filename": s.original,
            "stored_as": None if s.path in rejected else s.path.name,
            "doc_ids": from_file[s.path],
            "indexed": s.path not in rejected,
            **({"collision": note} if note and s.path not in rejected else {}),
        }
        for s, note in zip(staged, notes)
    ]
    warnings = [n for s, n in zip(staged, notes) if n and s.path not in rejected]
    if warnings:
        body["warnings"] = warnings
    if rejected and len(rejected) == len(staged):
        body["error"] = "no uploaded file could be indexed: " + "; ".join(body["errors"][:5])
        return jsonify(body), 422
    return jsonify(body)


@bp.delete("/documents/<doc_id>")
def remove(doc_id: str):
    """Remove a document from the index; an uploaded document's file goes too (so a re-index keeps it out)."""
    if len(doc_id) > params.MAX_ID_CHARS:
        raise QueryError(f"document id is {len(doc_id)} characters long; ids are at most {params.MAX_ID_CHARS}")
    settings = current_settings()
    with _LOCK:
        doc = holder().get().document(doc_id)  # looked up in the index only
        if doc is None:
            abort(404, description=f"no document {doc_id!r} in the index")
        editing.check_remove(doc)
        report = pipeline.remove_documents([doc_id], settings)
        if not report.removed:
            abort(404, description=f"no document {doc_id!r} in the index")
        source = Path(doc.source_path) if doc.source_path else None
        deleted = False
        if source is not None and _within(source, settings.uploads_dir) and source.is_file():
            source.unlink()
            _sidecar_of(source).unlink(missing_ok=True)
            deleted = True
            known = _read_names(settings.uploads_dir)
            if known.pop(source.name, None) is not None:
                _write_names(settings.uploads_dir, known)
    _refresh_engine()
    body = report_json(report)
    body["deleted_upload"] = deleted
    return jsonify(body)


@bp.post("/reindex")
def reindex():
    """add_documents over seeds_dir and uploads_dir: new and changed files in, unchanged ones skipped."""
    settings = current_settings()
    folders = [d for d in (settings.seeds_dir, settings.uploads_dir) if d.is_dir()]
    if not folders:
        raise QueryError("nothing to index: neither the seeds folder nor the uploads folder exists")
    with _LOCK:
        report = pipeline.add_documents(folders, settings, embedder=_embedder())
    _refresh_engine()
    return jsonify(report_json(report))
