"""Errors that callers turn into clear messages (CLI exit codes, HTTP 400/404/503)."""


class SearchEngineError(Exception):
    """Base class: the message is meant for the user, as is."""


class QueryError(SearchEngineError, ValueError):
    """A bad query parameter: empty or over-long query, k out of range, unknown mode."""


class IndexNotFoundError(SearchEngineError):
    """No index has been built yet in the index folder."""


class IndexCorruptError(SearchEngineError):
    """The index folder exists but a file is missing, truncated or inconsistent."""


class EmbeddingModelError(SearchEngineError, ValueError):
    """The configured embedding model cannot be found, loaded or run as configured."""


class ModelMismatchError(SearchEngineError):
    """The index was built with another embedding model than the one configured."""
