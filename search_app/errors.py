"""Map failures to HTTP answers: JSON `{"error": reason}` under /api, a friendly page elsewhere.

Bad input is always a 4xx with the reason; a missing or broken index is a 503 (the
server is fine, the data is not there yet); only genuine bugs are a 500, and those
never show a traceback to the user.
"""

from __future__ import annotations

import errno
import logging
import sqlite3

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from indexer.embedding import EmbeddingModelError
from indexer.errors import (
    IndexCorruptError,
    IndexNotFoundError,
    ModelMismatchError,
    QueryError,
    SearchEngineError,
)
from indexer.limits import BudgetExceeded, Overloaded

log = logging.getLogger(__name__)

_TITLES = {
    400: "请求参数有误",
    401: "需要管理员凭据",
    403: "没有权限",
    404: "页面不存在",
    405: "不支持的请求方法",
    413: "请求内容过大",
    422: "无法处理的内容",
    500: "服务器内部错误",
    503: "搜索服务暂不可用",
    504: "请求处理超时",
    507: "服务器存储空间不足",
}
# Operator faults that are not bugs: the answer says what is wrong with the machine.
_OS_FAULTS = {
    errno.ENOSPC: (507, "the server's disk is full"),
    errno.EDQUOT: (507, "the server's disk quota is used up"),
    errno.EROFS: (503, "the index or uploads folder is on a read-only file system"),
    errno.EACCES: (503, "the server may not write to the index or uploads folder (permission denied)"),
    errno.EPERM: (503, "the server may not write to the index or uploads folder (operation not permitted)"),
    errno.EMFILE: (503, "the server has too many open files"),
}


def status_of(exc: SearchEngineError) -> int:
    if isinstance(exc, QueryError):
        return 400
    if isinstance(exc, BudgetExceeded):
        return 504
    if isinstance(exc, Overloaded):
        return 503
    if isinstance(exc, (IndexNotFoundError, IndexCorruptError, ModelMismatchError, EmbeddingModelError)):
        return 503
    return 500


def message_of(exc: SearchEngineError) -> str:
    """The error's own message, plus what to do about it when the operator can fix it."""
    msg = str(exc) or type(exc).__name__
    if isinstance(exc, IndexNotFoundError) and "make index" not in msg:
        msg += " — run `make index` to build the search index."
    elif isinstance(exc, IndexCorruptError) and "make index" not in msg:
        msg += " — rebuild it with `make index`."
    return msg


def wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def error_response(status: int, message: str, hint: str = ""):
    """JSON for API clients, the error page for browsers."""
    if wants_json():
        from search_app.messages import zh

        return jsonify(error=message, message=zh(message)), status
    title = _TITLES.get(status, "出错了")
    return render_template("error.html", status=status, title=title, message=message, hint=hint), status


def _too_large_message() -> str:
    """Say which limit was hit: uploads have their own (settings.max_upload_mb)."""
    limit = request.max_content_length
    if request.path.startswith("/api/admin/"):
        mb = (limit or 0) / (1024 * 1024)
        return f"upload too large: the limit is {mb:g} MB per request (POLICY_SEARCH_MAX_UPLOAD_MB)"
    if limit:
        return f"request body too large: the limit is {limit} bytes"
    return "request body too large"


def os_fault(exc: BaseException) -> tuple[int, str] | None:
    """(status, reason) when `exc` or one of its causes is a known operator fault (disk full, read-only ...)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in _OS_FAULTS:
            status, what = _OS_FAULTS[exc.errno]
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            return status, f"{what}{where}: {exc.strerror or exc}; nothing was changed, the index still serves"
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def register(app: Flask) -> None:
    """JSON or HTML error answers for the engine's errors, HTTP errors and anything unexpected."""
    _register_engine_errors(app)
    _register_http_errors(app)


def _fault_response(status: int, reason: str):
    log.error("operator fault on %s %s: %s", request.method, request.path, reason)
    return error_response(status, reason)


def _register_engine_errors(app: Flask) -> None:
    @app.errorhandler(SearchEngineError)
    def _engine_error(exc: SearchEngineError):
        fault = os_fault(exc)
        if fault:
            return _fault_response(*fault)
        status = status_of(exc)
        if status >= 500:
            log.warning("search engine unavailable: %s", exc)
        hint = (
            "请管理员先运行 make index 建立索引，完成后刷新本页即可，无需重启服务。"
            if isinstance(exc, IndexNotFoundError)
            else ""
        )
        response = app.make_response(error_response(status, message_of(exc), hint))
        if isinstance(exc, Overloaded):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(sqlite3.Error)
    def _store_error(exc: sqlite3.Error):
        """A damaged or unreadable passage store (e.g. a truncated chunks.sqlite): the data, not the code."""
        log.error("index store cannot be read on %s %s: %s", request.method, request.path, exc)
        return error_response(
            503, f"the search index cannot be read ({type(exc).__name__}: {exc}); rebuild it with `make index`"
        )


def _register_http_errors(app: Flask) -> None:
    @app.errorhandler(OSError)
    def _os_error(exc: OSError):
        fault = os_fault(exc)
        if fault:
            return _fault_response(*fault)
        return _unexpected(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        custom = exc.description if exc.description != type(exc).description else None
        if status == 404 and custom:
            message = custom
        elif status == 404:
            message = (
                f"no such endpoint: {request.method} {request.path}"
                if wants_json()
                else "您访问的页面不存在。"
            )
        elif status == 413:
            message = _too_large_message()
        else:
            message = exc.description or exc.name
        response = app.make_response(error_response(status, message))
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="policy-search admin"'
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        fault = os_fault(exc)
        if fault:
            return _fault_response(*fault)
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal error; the details are in the server log")
